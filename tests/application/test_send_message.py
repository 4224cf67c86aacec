"""SendMessage with the real WhatsApp adapter against the fake Graph API, on real Postgres."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import attrs
import pytest
from dishka import AsyncContainer

from application.channels.send_message import OutboundText, SendMessage, SendMessageInput
from application.ports.channel_gateway import ChannelSendError, TemplateMessage
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import ChannelId, ConversationId, TenantId, new_id
from domain.conversations.conversation import Conversation
from domain.conversations.message import DeliveryStatus
from entrypoints.settings import MetaSettings, Settings
from tests.fakes.graph_api import FakeGraphApi, GraphResponse
from tests.support.api import Client, create_channel, create_tenant
from tests.support.meta import CONTACT, PHONE_NUMBER_ID

WA_PATH = f"/v25.0/{PHONE_NUMBER_ID}/messages"


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraphApi]:
    async with FakeGraphApi() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, graph: FakeGraphApi) -> Settings:
    return attrs.evolve(settings, meta=MetaSettings(graph_api_url=graph.base_url))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    yield connection
    await connection.close()


async def conversation(
    client: Client, container: AsyncContainer, graph: FakeGraphApi, *, last_inbound: datetime
) -> Conversation:
    tenant = await create_tenant(client)
    channel = await create_channel(
        client,
        tenant["id"],
        kind="whatsapp",
        name="Support",
        config={"phone_number_id": PHONE_NUMBER_ID},
        secrets={"access_token": graph.access_token},
    )
    tenant_id = TenantId(uuid.UUID(tenant["id"]))
    uow_factory = await container.get(UnitOfWorkFactory)
    async with uow_factory(tenant_id) as uow:
        added, _ = await uow.conversations.get_or_add(
            Conversation(
                id=ConversationId(new_id()),
                tenant_id=tenant_id,
                channel_id=ChannelId(uuid.UUID(channel["id"])),
                contact_id=CONTACT,
                last_inbound_at=last_inbound,
            )
        )
        await uow.commit()
    return added


def request(convo: Conversation, text: str = "Thanks! We will call you.", key: str = "turn-1") -> SendMessageInput:
    return SendMessageInput(
        tenant_id=convo.tenant_id,
        conversation_id=convo.id,
        content=OutboundText(text),
        idempotency_key=key,
        reply_to="wamid.in",
    )


async def statuses(db: asyncpg.Connection) -> list[str]:
    return [row[0] for row in await db.fetch("SELECT status FROM messages ORDER BY idempotency_key")]


async def test_a_long_reply_is_sent_in_parts_recorded_and_never_sent_twice(
    client: Client, container: AsyncContainer, graph: FakeGraphApi, db: asyncpg.Connection
) -> None:
    convo = await conversation(client, container, graph, last_inbound=datetime.now(UTC))
    send = await container.get(SendMessage)
    text = "Every sentence matters here. " * 400
    result = await send.execute(request(convo, text))
    assert result.status is DeliveryStatus.SENT
    assert len(result.provider_message_ids) == len(graph.sent()) == 3
    again = await send.execute(request(convo, text))
    assert again.provider_message_ids == result.provider_message_ids
    assert len(graph.sent()) == 3
    rows = await db.fetch("SELECT provider_message_id, reply_to_provider_id FROM messages ORDER BY idempotency_key")
    assert [row[0] for row in rows] == result.provider_message_ids
    assert [row[1] for row in rows] == ["wamid.in", None, None]
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE type = 'message.sent'") == 3


async def test_outside_the_window_only_templates_go_out(
    client: Client, container: AsyncContainer, graph: FakeGraphApi, db: asyncpg.Connection
) -> None:
    convo = await conversation(client, container, graph, last_inbound=datetime.now(UTC) - timedelta(hours=25))
    send = await container.get(SendMessage)
    refused = await send.execute(request(convo))
    assert refused.status is DeliveryStatus.FAILED
    assert refused.error is not None
    assert refused.error.code == "window_closed"
    assert graph.sent() == []
    template = SendMessageInput(
        convo.tenant_id, convo.id, TemplateMessage("reengage", "en_US"), idempotency_key="tpl-1"
    )
    assert (await send.execute(template)).status is DeliveryStatus.SENT
    [failed] = await db.fetch("SELECT payload FROM outbox WHERE type = 'message.failed'")
    assert json.loads(failed["payload"])["data"]["error"]["code"] == "window_closed"


async def test_a_permanent_meta_error_is_recorded_as_failed(
    client: Client, container: AsyncContainer, graph: FakeGraphApi, db: asyncpg.Connection
) -> None:
    convo = await conversation(client, container, graph, last_inbound=datetime.now(UTC))
    graph.script.enqueue("POST", WA_PATH, GraphResponse.error(400, code=131026, message="Message undeliverable"))
    result = await (await container.get(SendMessage)).execute(request(convo))
    assert result.status is DeliveryStatus.FAILED
    assert result.error is not None
    assert (result.error.code, result.error.title) == ("131026", "Message undeliverable")
    assert await statuses(db) == ["failed"]


async def test_a_retryable_failure_leaves_the_reply_pending_for_the_next_attempt(
    client: Client, container: AsyncContainer, graph: FakeGraphApi, db: asyncpg.Connection
) -> None:
    convo = await conversation(client, container, graph, last_inbound=datetime.now(UTC))
    send = await container.get(SendMessage)
    graph.script.enqueue(
        "POST", WA_PATH, *[GraphResponse.error(503, code=2, message="Service temporarily unavailable")] * 4
    )
    with pytest.raises(ChannelSendError):
        await send.execute(request(convo))
    assert await statuses(db) == ["pending"]
    assert (await send.execute(request(convo))).status is DeliveryStatus.SENT
    assert await statuses(db) == ["sent"]
