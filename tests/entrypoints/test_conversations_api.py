"""The conversation API over HTTP, as a tenant's agent tool drives it: take over, reply through the
channel (the fake Graph API), hand back; list, filter, search and page; and tenants' HTTP tools."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import attrs
import httpx
import pytest
from dishka import AsyncContainer, Provider, Scope, provide

from application.conversations.release_idle_handoffs import ReleaseIdleHandoffs
from application.ports.knowledge_search import KnowledgeSearch
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import ChannelId, ConversationId, MessageId, TenantId, new_id
from domain.conversations.conversation import Conversation
from domain.conversations.message import Direction, Message, MessageType, SenderRole
from entrypoints.http.app import create_app
from entrypoints.ioc.containers import make_http_container
from entrypoints.settings import MetaSettings, Settings
from tests.conftest import ADMIN_KEY
from tests.fakes.conversation_engine import FakeKnowledge
from tests.fakes.graph_api import FakeGraphApi
from tests.support.api import Client, as_key, create_channel, create_tenant, create_tenant_key
from tests.support.meta import CONTACT, PHONE_NUMBER_ID


class FakeKnowledgeProvider(Provider):
    scope = Scope.APP

    @provide
    def knowledge(self) -> KnowledgeSearch:
        return FakeKnowledge()


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraphApi]:
    async with FakeGraphApi() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, graph: FakeGraphApi) -> Settings:
    return attrs.evolve(settings, meta=MetaSettings(graph_api_url=graph.base_url))


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[AsyncContainer]:
    container = make_http_container(settings, FakeKnowledgeProvider())
    yield container
    await container.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    yield connection
    await connection.close()


@attrs.define
class Tenant:
    id: str
    channel_id: str
    container: AsyncContainer

    @property
    def base(self) -> str:
        return f"/api/tenants/{self.id}/conversations"

    async def inbound(self, text: str, contact: str = CONTACT, *, hours_ago: float = 0.0) -> str:
        """A contact's message as inbound processing stores it; returns the conversation id."""
        tenant_id, channel_id = TenantId(uuid.UUID(self.id)), ChannelId(uuid.UUID(self.channel_id))
        moment = datetime.now(UTC) - timedelta(hours=hours_ago)
        uow_factory = await self.container.get(UnitOfWorkFactory)
        async with uow_factory(tenant_id) as uow:
            conversation, _ = await uow.conversations.get_or_add(
                Conversation(
                    id=ConversationId(new_id()), tenant_id=tenant_id, channel_id=channel_id, contact_id=contact
                )
            )
            conversation.record_inbound(moment)
            await uow.conversations.update(conversation)
            await uow.messages.add(
                Message(
                    id=MessageId(new_id()),
                    tenant_id=tenant_id,
                    conversation_id=conversation.id,
                    channel_id=channel_id,
                    direction=Direction.INBOUND,
                    sender=SenderRole.CONTACT,
                    type=MessageType.TEXT,
                    text=text,
                )
            )
            await uow.commit()
        return str(conversation.id)


@pytest.fixture
async def tenant(client: Client, container: AsyncContainer) -> Tenant:
    created = await create_tenant(client, "Acme", handoff_idle_release_minutes=30)
    channel = await create_channel(
        client,
        created["id"],
        kind="whatsapp",
        name="support line",
        config={"phone_number_id": PHONE_NUMBER_ID},
        secrets={"access_token": "EAAG-test-token"},
    )
    return Tenant(created["id"], channel["id"], container)


async def event_types(db: asyncpg.Connection) -> list[str]:
    rows = await db.fetch(
        "SELECT type FROM outbox WHERE kind = 'event' AND (type LIKE 'conversation.%' OR type LIKE 'message.%')"
        " ORDER BY seq"
    )
    return [row["type"] for row in rows]


def texts_sent(graph: FakeGraphApi) -> list[tuple[str, str]]:
    return [(r.json["to"], r.json["text"]["body"]) for r in graph.sent() if r.json.get("type") == "text"]


async def test_an_agent_tool_takes_over_replies_and_hands_back(
    client: Client, tenant: Tenant, graph: FakeGraphApi, db: asyncpg.Connection
) -> None:
    conversation_id = await tenant.inbound("my parcel is lost")

    taken = await client.post(f"{tenant.base}/{conversation_id}/handoff", json={"reason": "VIP customer"})
    assert taken.status_code == 200, taken.text
    assert (taken.json()["state"], taken.json()["handoff_reason"]) == ("human", "VIP customer")

    sent = await client.post(
        f"{tenant.base}/{conversation_id}/messages",
        json={"text": "Hi, Sam here. Checking now.", "agent_name": "Sam", "client_message_id": "ticket-9-1"},
    )
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert (body["sender"], body["status"], body["content"]) == ("agent", "sent", {"agent": "Sam"})
    assert texts_sent(graph) == [(f"+{CONTACT}", "Hi, Sam here. Checking now.")]
    again = await client.post(
        f"{tenant.base}/{conversation_id}/messages",
        json={"text": "Hi, Sam here. Checking now.", "client_message_id": "ticket-9-1"},
    )
    assert again.json()["id"] == body["id"]
    assert len(texts_sent(graph)) == 1

    released = await client.post(f"{tenant.base}/{conversation_id}/release")
    assert released.status_code == 200
    assert released.json()["state"] == "bot"

    detail = (await client.get(f"{tenant.base}/{conversation_id}")).json()
    timeline = [(m["sender"], m["type"], m["text"]) for m in reversed(detail["messages"]["items"])]
    assert timeline == [
        ("contact", "text", "my parcel is lost"),
        ("system", "system", "Handed to a person: VIP customer"),
        ("agent", "text", "Hi, Sam here. Checking now."),
        ("system", "system", "Back with the assistant: released by an agent"),
    ]
    assert await event_types(db) == ["conversation.handoff", "message.sent", "conversation.released"]


async def test_an_agent_reply_alone_takes_the_conversation_over(
    client: Client, tenant: Tenant, db: asyncpg.Connection
) -> None:
    conversation_id = await tenant.inbound("hello")

    sent = await client.post(f"{tenant.base}/{conversation_id}/messages", json={"text": "Hi!"})

    assert sent.status_code == 201
    detail = (await client.get(f"{tenant.base}/{conversation_id}")).json()
    assert detail["conversation"]["state"] == "human"
    handoff = await db.fetchval("SELECT payload FROM outbox WHERE type = 'conversation.handoff'")
    assert json.loads(handoff)["data"]["trigger"] == "agent"


async def test_an_agent_reply_outside_the_whatsapp_window_is_recorded_failed(
    client: Client, tenant: Tenant, graph: FakeGraphApi
) -> None:
    conversation_id = await tenant.inbound("hello", hours_ago=30)

    sent = await client.post(f"{tenant.base}/{conversation_id}/messages", json={"text": "Sorry for the wait!"})

    assert sent.json()["status"] == "failed"
    assert sent.json()["error"]["code"] == "window_closed"
    assert texts_sent(graph) == []


async def test_handoff_and_release_repeat_harmlessly(client: Client, tenant: Tenant, db: asyncpg.Connection) -> None:
    conversation_id = await tenant.inbound("hello")

    for _ in range(2):
        assert (await client.post(f"{tenant.base}/{conversation_id}/handoff")).status_code == 200
    for _ in range(2):
        assert (await client.post(f"{tenant.base}/{conversation_id}/release")).status_code == 200

    assert await event_types(db) == ["conversation.handoff", "conversation.released"]


async def test_idle_handoffs_go_back_to_the_bot(
    client: Client, tenant: Tenant, container: AsyncContainer, db: asyncpg.Connection
) -> None:
    idle = await tenant.inbound("hello", contact="111")
    busy = await tenant.inbound("hello", contact="222")
    for conversation_id in (idle, busy):
        await client.post(f"{tenant.base}/{conversation_id}/handoff")
    await db.execute(
        "UPDATE conversations SET last_agent_at = now() - interval '31 minutes' WHERE id = $1", uuid.UUID(idle)
    )

    async with container() as request:
        result = await (await request.get(ReleaseIdleHandoffs)).execute()

    assert result.released == 1
    states = {row["id"]: row["state"] for row in await db.fetch("SELECT id, state FROM conversations")}
    assert states == {uuid.UUID(idle): "bot", uuid.UUID(busy): "human"}
    released = json.loads(await db.fetchval("SELECT payload FROM outbox WHERE type = 'conversation.released'"))
    assert released["data"]["reason"] == "no agent activity for 30 minutes"


async def test_listing_filters_searches_and_pages(client: Client, tenant: Tenant) -> None:
    first = await tenant.inbound("Where is my blue lamp?", contact="111")
    second = await tenant.inbound("Do you ship to Norway?", contact="222")
    third = await tenant.inbound("Refund for the lamps please", contact="333")
    await client.post(f"{tenant.base}/{second}/handoff")

    everything = (await client.get(tenant.base)).json()
    assert [item["id"] for item in everything["items"]] == [second, third, first]
    assert everything["items"][1]["last_message"]["text"] == "Refund for the lamps please"
    assert everything["items"][1]["channel_kind"] == "whatsapp"

    humans = (await client.get(tenant.base, params={"state": "human"})).json()
    assert [item["id"] for item in humans["items"]] == [second]
    lamp = (await client.get(tenant.base, params={"q": "lamp"})).json()
    assert [item["id"] for item in lamp["items"]] == [first]
    norway = (await client.get(tenant.base, params={"q": "norway", "channel_id": tenant.channel_id})).json()
    assert [item["id"] for item in norway["items"]] == [second]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await client.get(tenant.base, params={"since": future})).json()["items"] == []

    page = (await client.get(tenant.base, params={"limit": 2})).json()
    rest = (await client.get(tenant.base, params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert [item["id"] for item in page["items"] + rest["items"]] == [second, third, first]
    assert rest["next_cursor"] is None
    bad = await client.get(tenant.base, params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422


async def test_messages_page_newest_first(client: Client, tenant: Tenant) -> None:
    conversation_id = ""
    for number in range(5):
        conversation_id = await tenant.inbound(f"message {number}")

    first = (await client.get(f"{tenant.base}/{conversation_id}", params={"messages_limit": 3})).json()
    older = (
        await client.get(
            f"{tenant.base}/{conversation_id}",
            params={"messages_limit": 3, "messages_cursor": first["messages"]["next_cursor"]},
        )
    ).json()

    texts = [m["text"] for m in first["messages"]["items"] + older["messages"]["items"]]
    assert texts == [f"message {number}" for number in (4, 3, 2, 1, 0)]


async def test_scopes_and_tenants_are_enforced(client: Client, tenant: Tenant) -> None:
    conversation_id = await tenant.inbound("hello")
    reader = await create_tenant_key(client, tenant.id, scopes=["read"])
    other = await create_tenant(client, "Other")
    outsider = await create_tenant_key(client, other["id"], scopes=["read", "send"])

    assert (await client.get(tenant.base, headers=as_key(reader))).status_code == 200
    refused = await client.post(f"{tenant.base}/{conversation_id}/handoff", headers=as_key(reader))
    assert refused.status_code == 403
    assert (await client.get(tenant.base, headers=as_key(outsider))).status_code == 403
    missing = await client.post(f"{tenant.base}/{uuid.uuid4()}/messages", json={"text": "hi"})
    assert missing.status_code == 404
    empty = await client.post(f"{tenant.base}/{conversation_id}/messages", json={"text": ""})
    assert empty.status_code == 422


async def test_tenant_tools_are_managed_and_their_secret_shown_once(client: Client, tenant: Tenant) -> None:
    base = f"/api/tenants/{tenant.id}/tools"
    definition: dict[str, Any] = {
        "name": "lookup_order",
        "description": "Find an order by its number",
        "parameters": {"type": "object", "properties": {"number": {"type": "string"}}, "required": ["number"]},
        "url": "http://127.0.0.1:8089/orders",
    }

    created = await client.post(base, json=definition)
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    tool_id = created.json()["tool"]["id"]
    assert (await client.post(base, json=definition)).status_code == 409

    shown = (await client.get(f"{base}/{tool_id}")).json()
    assert "secret" not in shown
    assert [tool["name"] for tool in (await client.get(base)).json()] == ["lookup_order"]

    replaced = await client.put(
        f"{base}/{tool_id}",
        json={**{k: v for k, v in definition.items() if k != "name"}, "timeout_seconds": 3, "active": False},
    )
    assert (replaced.json()["timeout_seconds"], replaced.json()["active"]) == (3.0, False)
    assert (await client.delete(f"{base}/{tool_id}")).status_code == 204
    assert (await client.get(f"{base}/{tool_id}")).status_code == 404


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"name": "search_knowledge_base"}, 422),
        ({"parameters": {"type": "array"}}, 422),
        ({"parameters": {"type": "object", "properties": {}, "required": ["x"]}}, 422),
        ({"url": "ftp://example.com/x"}, 422),
        ({"name": "has space"}, 422),
        ({"secret": "short"}, 422),
    ],
)
async def test_bad_tool_definitions_are_refused(
    client: Client, tenant: Tenant, change: dict[str, Any], status: int
) -> None:
    definition = {
        "name": "lookup",
        "description": "Find things",
        "parameters": {"type": "object", "properties": {}},
        "url": "https://tools.example.com/lookup",
        **change,
    }

    response = await client.post(f"/api/tenants/{tenant.id}/tools", json=definition)

    assert response.status_code == status, response.text


async def test_tool_urls_on_private_networks_are_refused_unless_allowed(settings: Settings, tenant: Tenant) -> None:
    strict = make_http_container(attrs.evolve(settings, allow_private_webhook_urls=False), FakeKnowledgeProvider())
    app = create_app(strict, settings)
    for hook in app.on_startup:
        await hook()  # type: ignore[call-arg]
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=as_key(ADMIN_KEY)
        ) as strict_client:
            response = await strict_client.post(
                f"/api/tenants/{tenant.id}/tools",
                json={
                    "name": "internal",
                    "description": "Reaches the metadata service",
                    "parameters": {"type": "object", "properties": {}},
                    "url": "http://169.254.169.254/latest",
                },
            )
    finally:
        for hook in app.on_shutdown:
            await hook()  # type: ignore[call-arg]

    assert response.status_code == 422
    assert "non-public" in response.json()["error"]["message"]
