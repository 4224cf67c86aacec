"""PostgresDeliveryOutcomes: a send's outcome and its event in one statement, each under its own tenant."""

from __future__ import annotations

import json

import asyncpg
import pytest

from adapters.postgres.delivery_outcomes import PostgresDeliveryOutcomes
from adapters.postgres.notifications import OutboxWakeups
from adapters.postgres.tenant_sessions import TenantSessions
from adapters.postgres.unit_of_work import PostgresUnitOfWorkFactory
from application.conversations.views import message_event
from application.observability import correlation_id_var
from domain.channels.channel import Channel
from domain.common.ids import ConversationId, MessageId, new_id
from domain.conversations.conversation import Conversation
from domain.conversations.message import DeliveryStatus, Direction, Message, MessageError, MessageType, SenderRole
from tests.support.channels import store_whatsapp_channel


@pytest.fixture
def outcomes(one_tenant_session: TenantSessions) -> PostgresDeliveryOutcomes:
    return PostgresDeliveryOutcomes(one_tenant_session, OutboxWakeups(relays_here=False))


async def pending_reply(uow_factory: PostgresUnitOfWorkFactory, channel: Channel) -> Message:
    conversation = Conversation(
        id=ConversationId(new_id()), tenant_id=channel.tenant_id, channel_id=channel.id, contact_id="15550001"
    )
    reply = Message(
        id=MessageId(new_id()),
        tenant_id=channel.tenant_id,
        conversation_id=conversation.id,
        channel_id=channel.id,
        direction=Direction.OUTBOUND,
        sender=SenderRole.BOT,
        type=MessageType.TEXT,
        text="Refunds take 30 days.",
        status=DeliveryStatus.PENDING,
    )
    async with uow_factory(channel.tenant_id) as uow:
        await uow.conversations.get_or_add(conversation)
        await uow.messages.add(reply)
        await uow.commit()
    return reply


async def test_each_outcome_is_stored_with_its_event_under_its_own_tenant(
    uow_factory: PostgresUnitOfWorkFactory, outcomes: PostgresDeliveryOutcomes, db: asyncpg.Connection
) -> None:
    sent = await pending_reply(uow_factory, await store_whatsapp_channel(uow_factory, "106540352240001"))
    failed = await pending_reply(uow_factory, await store_whatsapp_channel(uow_factory, "106540352240002"))
    sent.provider_message_id = "wamid.sent"
    sent.apply_status(DeliveryStatus.SENT)
    failed.apply_status(DeliveryStatus.FAILED, MessageError(code="131047", title="Re-engagement message"))

    token = correlation_id_var.set("corr-1")
    try:
        for message in (sent, failed):
            await outcomes.record(message, message_event(message, "15550001"))
    finally:
        correlation_id_var.reset(token)

    rows = {
        row["id"]: row
        for row in await db.fetch(
            "SELECT id, tenant_id, status, provider_message_id, jsonb_typeof(error) AS error_type, error FROM messages"
        )
    }
    assert (rows[sent.id]["status"], rows[sent.id]["provider_message_id"]) == ("sent", "wamid.sent")
    # No error is JSON null, as the message repository writes it.
    assert rows[sent.id]["error_type"] == "null"
    assert rows[failed.id]["status"] == "failed"
    assert json.loads(rows[failed.id]["error"])["code"] == "131047"
    events = await db.fetch("SELECT tenant_id, type, payload, correlation_id FROM outbox ORDER BY seq")
    assert [(event["tenant_id"], event["type"], event["correlation_id"]) for event in events[-2:]] == [
        (sent.tenant_id, "message.sent", "corr-1"),
        (failed.tenant_id, "message.failed", "corr-1"),
    ]
    assert json.loads(events[-2]["payload"])["data"]["provider_message_id"] == "wamid.sent"
