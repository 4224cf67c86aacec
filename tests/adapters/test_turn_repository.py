"""PostgresTurnRepository: the tenant's row, whether it has knowledge to search (an indexed chunk) and its active
tools, read in one statement with the conversation's newest messages, never counting another tenant's chunks,
tools or messages; the message stored under a claimed reply key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs

from adapters.postgres.repositories.turns import _CLAIMED_MESSAGE
from adapters.postgres.unit_of_work import PostgresUnitOfWorkFactory
from application.ports.conversation_store import TurnTenant
from domain.channels.channel import Channel
from domain.common.ids import ConversationId, DocumentId, MessageId, TenantId, new_id
from domain.conversations.conversation import Conversation
from domain.conversations.message import DeliveryStatus, Direction, Message, MessageType, SenderRole
from domain.knowledge.document import KnowledgeDocument
from domain.tools.tenant_tool import TenantTool, ToolId
from tests.fakes.knowledge import HashingEmbedder
from tests.support.channels import store_tenant, store_whatsapp_channel
from tests.support.knowledge import store_indexed_document
from tests.support.plans import rows_read


async def read(
    uow_factory: PostgresUnitOfWorkFactory, scope: TenantId | None, tenant_id: TenantId
) -> TurnTenant | None:
    async with uow_factory(scope) as uow:
        found, timeline = await uow.turns.tenant_and_timeline(tenant_id, ConversationId(new_id()), 60)
    assert timeline == []
    return found


async def test_a_tenant_has_knowledge_from_its_first_indexed_chunk_until_its_last_is_gone(
    uow_factory: PostgresUnitOfWorkFactory,
) -> None:
    tenant_id = await store_tenant(uow_factory, "Acme")
    fresh = await read(uow_factory, tenant_id, tenant_id)
    assert fresh is not None
    assert (fresh.tenant.id, fresh.tenant.name, fresh.has_knowledge) == (tenant_id, "Acme", False)

    # Uploaded but not indexed yet: a document without chunks has nothing to search.
    async with uow_factory(tenant_id) as uow:
        await uow.documents.add(
            KnowledgeDocument(
                id=DocumentId(new_id()),
                tenant_id=tenant_id,
                title="Pending",
                filename="pending.md",
                format="md",
                content_hash=new_id().hex,
                size_bytes=1,
                storage_key="unused",
            )
        )
        await uow.commit()
    assert (await read(uow_factory, tenant_id, tenant_id)) == TurnTenant(fresh.tenant, has_knowledge=False)

    document_id, _ = await store_indexed_document(
        uow_factory, tenant_id, "Refund policy", ["Refunds are paid within 30 days."], HashingEmbedder()
    )
    assert (await read(uow_factory, tenant_id, tenant_id)) == TurnTenant(fresh.tenant, has_knowledge=True)

    async with uow_factory(tenant_id) as uow:
        await uow.knowledge.delete_chunks(tenant_id, document_id)
        await uow.commit()
    assert (await read(uow_factory, tenant_id, tenant_id)) == TurnTenant(fresh.tenant, has_knowledge=False)


async def test_another_tenants_chunks_never_count(uow_factory: PostgresUnitOfWorkFactory) -> None:
    empty = await store_tenant(uow_factory, "Empty")
    stocked = await store_tenant(uow_factory, "Stocked")
    await store_indexed_document(uow_factory, stocked, "Shipping", ["Parcels ship within 2 days."], HashingEmbedder())

    # Platform scope has row-level security off: the statement's own tenant filter is all that holds there.
    answers = [
        await read(uow_factory, scope, tenant) for scope, tenant in [(empty, empty), (None, empty), (None, stocked)]
    ]

    assert [None if answer is None else answer.has_knowledge for answer in answers] == [False, False, True]
    # A tenant's transaction does not see another tenant at all.
    assert await read(uow_factory, empty, stocked) is None
    assert await read(uow_factory, None, TenantId(new_id())) is None


def tool(tenant_id: TenantId, name: str, *, active: bool = True) -> TenantTool:
    return TenantTool(
        id=ToolId(new_id()),
        tenant_id=tenant_id,
        name=name,
        description=f"{name} for tests",
        parameters={"type": "object", "properties": {}},
        url="https://tools.example/hook",
        secret_encrypted=b"ciphertext",
        active=active,
    )


async def test_the_active_tools_come_with_the_tenant_and_only_its_own(uow_factory: PostgresUnitOfWorkFactory) -> None:
    acme = await store_tenant(uow_factory, "Acme")
    other = await store_tenant(uow_factory, "Other")
    without = await read(uow_factory, acme, acme)
    assert without is not None
    assert (without.tenant.name, without.tools) == ("Acme", ())
    stored = {
        name: tool(tenant, name, active=active)
        for tenant, name, active in [
            (acme, "track_order", True),
            (acme, "cancel_order", True),
            (acme, "retired_tool", False),
            (other, "other_tool", True),
        ]
    }
    for item in stored.values():
        async with uow_factory(item.tenant_id) as uow:
            await uow.tenant_tools.add(item)
            await uow.commit()

    # Platform scope has row-level security off: the join's own tenant filter is all that holds there.
    for scope in (acme, None):
        found = await read(uow_factory, scope, acme)
        assert found is not None
        assert found.tenant.name == "Acme"
        assert found.tools == (stored["cancel_order"], stored["track_order"])
    other_found = await read(uow_factory, other, other)
    assert other_found is not None
    assert other_found.tools == (stored["other_tool"],)


async def test_the_newest_messages_come_with_the_tenant_oldest_first_and_only_the_conversations_own(
    uow_factory: PostgresUnitOfWorkFactory,
) -> None:
    channel = await store_whatsapp_channel(uow_factory, "106540352242888")
    other = await store_whatsapp_channel(uow_factory, "106540352242999")
    start = datetime.now(UTC)
    async with uow_factory(channel.tenant_id) as uow:
        await uow.tenant_tools.add(tool(channel.tenant_id, "track_order"))
        await uow.tenant_tools.add(tool(channel.tenant_id, "cancel_order"))
        conversations = [
            (
                await uow.conversations.get_or_add(
                    Conversation(
                        id=ConversationId(new_id()),
                        tenant_id=channel.tenant_id,
                        channel_id=channel.id,
                        contact_id=contact,
                    )
                )
            )[0]
            for contact in ("15550001", "15550002")
        ]
        timelines: dict[ConversationId, list[Message]] = {}
        for index in range(6):
            conversation = conversations[index % 2]
            message = Message(
                id=MessageId(new_id()),
                tenant_id=channel.tenant_id,
                conversation_id=conversation.id,
                channel_id=channel.id,
                direction=Direction.INBOUND,
                sender=SenderRole.CONTACT,
                type=MessageType.TEXT,
                text=f"message {index}",
                status=DeliveryStatus.RECEIVED,
                created_at=start + timedelta(seconds=index),
            )
            await uow.messages.add(message)
            timelines.setdefault(conversation.id, []).append(message)
        await uow.commit()

    first = conversations[0].id
    async with uow_factory(channel.tenant_id) as uow:
        found, timeline = await uow.turns.tenant_and_timeline(channel.tenant_id, first, 2)
        _, whole = await uow.turns.tenant_and_timeline(channel.tenant_id, first, 60)
    assert found is not None
    assert [item.name for item in found.tools] == ["cancel_order", "track_order"]
    assert [message.text for message in timeline] == ["message 2", "message 4"]
    assert whole == timelines[first]
    # Another tenant reads neither the tenant nor its messages, with row-level security and without it.
    for scope in (other.tenant_id, None):
        async with uow_factory(scope) as uow:
            assert (await uow.turns.tenant_and_timeline(other.tenant_id, first, 60)) == (
                (await read(uow_factory, scope, other.tenant_id)),
                [],
            )


async def store_claimed_replies(
    uow_factory: PostgresUnitOfWorkFactory, channel: Channel, keys: list[str]
) -> dict[str, Message]:
    """Outbound messages each claimed under its key, as an agent's reply with a client_message_id is."""
    stored: dict[str, Message] = {}
    async with uow_factory(channel.tenant_id) as uow:
        conversation, _ = await uow.conversations.get_or_add(
            Conversation(
                id=ConversationId(new_id()), tenant_id=channel.tenant_id, channel_id=channel.id, contact_id="15550001"
            )
        )
        for key in keys:
            message = Message(
                id=MessageId(new_id()),
                tenant_id=channel.tenant_id,
                conversation_id=conversation.id,
                channel_id=channel.id,
                direction=Direction.OUTBOUND,
                sender=SenderRole.AGENT,
                type=MessageType.TEXT,
                text=f"reply {key}",
                status=DeliveryStatus.SENT,
                idempotency_key=key,
            )
            assert await uow.turns.add_claimed(message)
            stored[key] = message
        await uow.commit()
    return stored


async def test_a_claimed_key_leads_to_its_message_and_only_within_its_tenant(
    uow_factory: PostgresUnitOfWorkFactory,
) -> None:
    channel = await store_whatsapp_channel(uow_factory, "106540352242555")
    other = await store_whatsapp_channel(uow_factory, "106540352242666")
    stored = await store_claimed_replies(uow_factory, channel, ["agent:a", "agent:b"])

    async with uow_factory(channel.tenant_id) as uow:
        found = await uow.turns.claimed_message(channel.tenant_id, "agent:b")
        assert found is not None
        assert (found.id, found.text) == (stored["agent:b"].id, "reply agent:b")
        assert await uow.turns.claimed_message(channel.tenant_id, "agent:unknown") is None
    async with uow_factory(other.tenant_id) as uow:
        assert await uow.turns.claimed_message(other.tenant_id, "agent:b") is None
    async with uow_factory(None) as uow:
        assert await uow.turns.claimed_message(other.tenant_id, "agent:b") is None


async def test_a_claimed_key_is_found_without_reading_the_tenants_other_messages(
    uow_factory: PostgresUnitOfWorkFactory, database_url: str
) -> None:
    channel = await store_whatsapp_channel(uow_factory, "106540352242777")
    await store_claimed_replies(uow_factory, channel, [f"agent:{index}" for index in range(1500)])

    read = await rows_read(database_url, _CLAIMED_MESSAGE, {"b_tenant_id": channel.tenant_id, "b_key": "agent:700"})
    # One ledger row and one message row, not the 1,500 messages of the tenant.
    assert read <= 2


async def test_a_taken_key_stores_nothing(uow_factory: PostgresUnitOfWorkFactory) -> None:
    channel = await store_whatsapp_channel(uow_factory, "106540352242777")
    stored = await store_claimed_replies(uow_factory, channel, ["agent:a"])
    again = attrs.evolve(stored["agent:a"], id=MessageId(new_id()), text="sent twice?")

    async with uow_factory(channel.tenant_id) as uow:
        assert not await uow.turns.add_claimed(again)
        await uow.commit()
    async with uow_factory(channel.tenant_id) as uow:
        assert await uow.messages.get(channel.tenant_id, again.id) is None
        found = await uow.turns.claimed_message(channel.tenant_id, "agent:a")
    assert found is not None
    assert found.id == stored["agent:a"].id
