"""PostgresConversationRepository.get_or_add: one conversation per (channel, contact), whoever asks first,
also when two transactions ask at once."""

from __future__ import annotations

import asyncio

from adapters.postgres.unit_of_work import PostgresUnitOfWorkFactory
from domain.channels.channel import Channel
from domain.common.ids import ConversationId, new_id
from domain.conversations.conversation import Conversation
from tests.support.channels import store_whatsapp_channel


def candidate(channel: Channel, contact_id: str = "15550009") -> Conversation:
    return Conversation(
        id=ConversationId(new_id()), tenant_id=channel.tenant_id, channel_id=channel.id, contact_id=contact_id
    )


async def test_the_stored_conversation_is_returned_and_not_added_again(uow_factory: PostgresUnitOfWorkFactory) -> None:
    channel = await store_whatsapp_channel(uow_factory, "106540352242555")
    async with uow_factory(channel.tenant_id) as uow:
        first, first_added = await uow.conversations.get_or_add(candidate(channel))
        again, again_added = await uow.conversations.get_or_add(candidate(channel))
        other, other_added = await uow.conversations.get_or_add(candidate(channel, contact_id="15550010"))
        await uow.commit()

    assert (first_added, again_added, other_added) == (True, False, True)
    assert again == first
    assert other.id != first.id


async def test_two_transactions_adding_the_same_contact_end_with_one_conversation(
    uow_factory: PostgresUnitOfWorkFactory,
) -> None:
    channel = await store_whatsapp_channel(uow_factory, "106540352242666")
    async with uow_factory(channel.tenant_id) as first, uow_factory(channel.tenant_id) as second:
        added, added_now = await first.conversations.get_or_add(candidate(channel))
        # The second looks, finds nothing committed, and its insert waits on the first's uncommitted row.
        racing = asyncio.create_task(second.conversations.get_or_add(candidate(channel)))
        await asyncio.sleep(0.2)
        assert not racing.done()
        await first.commit()
        found, found_now = await racing
        await second.commit()

    assert (added_now, found_now) == (True, False)
    assert found.id == added.id
