"""Message sequence numbers (migration 0006): per conversation, gapless, in commit order, whoever stores
the message; the timeline reads "everything after N"."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from dishka import AsyncContainer

from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import ChannelId, ConversationId, MessageId, TenantId, new_id
from domain.conversations.conversation import Conversation
from domain.conversations.message import DeliveryStatus, Direction, Message, MessageType, SenderRole
from tests.support.webchat import create_widget


async def _conversation(uow_factory: UnitOfWorkFactory, tenant: TenantId, channel: ChannelId) -> ConversationId:
    async with uow_factory(tenant) as uow:
        conversation, _ = await uow.conversations.get_or_add(
            Conversation(id=ConversationId(new_id()), tenant_id=tenant, channel_id=channel, contact_id=uuid.uuid4().hex)
        )
        await uow.commit()
    return conversation.id


def _message(tenant: TenantId, channel: ChannelId, conversation: ConversationId, text: str) -> Message:
    return Message(
        id=MessageId(new_id()),
        tenant_id=tenant,
        conversation_id=conversation,
        channel_id=channel,
        direction=Direction.INBOUND,
        sender=SenderRole.CONTACT,
        type=MessageType.TEXT,
        text=text,
        status=DeliveryStatus.RECEIVED,
    )


async def test_messages_are_numbered_per_conversation_and_read_after_a_number(
    client: httpx.AsyncClient, container: AsyncContainer
) -> None:
    widget = await create_widget(client)
    tenant, channel = TenantId(uuid.UUID(widget["tenant_id"])), ChannelId(uuid.UUID(widget["channel_id"]))
    uow_factory = await container.get(UnitOfWorkFactory)
    first, second = await _conversation(uow_factory, tenant, channel), await _conversation(uow_factory, tenant, channel)
    async with uow_factory(tenant) as uow:
        for index in range(3):
            await uow.messages.add(_message(tenant, channel, first, f"first {index}"))
            await uow.messages.add(_message(tenant, channel, second, f"second {index}"))
        await uow.commit()

    async with uow_factory(tenant) as uow:
        everything = await uow.timeline.after(tenant, first, 0, 100)
        after_one = await uow.timeline.after(tenant, first, 1, 100)
        one_page = await uow.timeline.after(tenant, second, 0, 2)
        # Row-level security: another tenant's unit of work sees none of it.
        async with uow_factory(TenantId(uuid.uuid4())) as stranger:
            hidden = await stranger.timeline.after(tenant, first, 0, 100)

    assert [(entry.seq, entry.text) for entry in everything] == [(1, "first 0"), (2, "first 1"), (3, "first 2")]
    assert [entry.seq for entry in after_one] == [2, 3]
    assert [(entry.seq, entry.text) for entry in one_page] == [(1, "second 0"), (2, "second 1")]
    assert hidden == []


async def test_numbers_follow_commit_order_when_two_writers_race(
    client: httpx.AsyncClient, container: AsyncContainer
) -> None:
    widget = await create_widget(client)
    tenant, channel = TenantId(uuid.UUID(widget["tenant_id"])), ChannelId(uuid.UUID(widget["channel_id"]))
    uow_factory = await container.get(UnitOfWorkFactory)
    conversation = await _conversation(uow_factory, tenant, channel)

    async with uow_factory(tenant) as slow:
        await slow.messages.add(_message(tenant, channel, conversation, "numbered first, committed first"))

        async def second_writer() -> None:
            async with uow_factory(tenant) as fast:
                await fast.messages.add(_message(tenant, channel, conversation, "waits for the first"))
                await fast.commit()

        racing = asyncio.create_task(second_writer())
        await asyncio.sleep(0.3)
        # The second writer waits on the counter row: nobody can see number 2 before number 1 exists.
        assert not racing.done()
        await slow.commit()
    await asyncio.wait_for(racing, 5)

    async with uow_factory(tenant) as uow:
        entries = await uow.timeline.after(tenant, conversation, 0, 10)
    assert [(entry.seq, entry.text) for entry in entries] == [
        (1, "numbered first, committed first"),
        (2, "waits for the first"),
    ]


async def test_a_rolled_back_message_leaves_no_gap(client: httpx.AsyncClient, container: AsyncContainer) -> None:
    widget = await create_widget(client)
    tenant, channel = TenantId(uuid.UUID(widget["tenant_id"])), ChannelId(uuid.UUID(widget["channel_id"]))
    uow_factory = await container.get(UnitOfWorkFactory)
    conversation = await _conversation(uow_factory, tenant, channel)
    async with uow_factory(tenant) as uow:
        await uow.messages.add(_message(tenant, channel, conversation, "rolled back"))
    async with uow_factory(tenant) as uow:
        await uow.messages.add(_message(tenant, channel, conversation, "kept"))
        await uow.commit()

    async with uow_factory(tenant) as uow:
        entries = await uow.timeline.after(tenant, conversation, 0, 10)
    assert [(entry.seq, entry.text) for entry in entries] == [(1, "kept")]
