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
from tests.fakes.graph_api import FakeGraphApi, GraphResponse
from tests.support.api import Client, as_key, create_channel, create_tenant, create_tenant_key
from tests.support.meta import CONTACT, PAGE_ID, PHONE_NUMBER_ID, PSID


class FakeKnowledgeProvider(Provider):
    scope = Scope.APP

    @provide
    def knowledge(self) -> KnowledgeSearch:
        return FakeKnowledge()


@pytest.fixture
def settings(settings: Settings, graph: FakeGraphApi) -> Settings:
    return attrs.evolve(settings, meta=MetaSettings(graph_api_url=graph.base_url))


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[AsyncContainer]:
    container = make_http_container(settings, FakeKnowledgeProvider())
    yield container
    await container.close()


@attrs.define
class Tenant:
    id: str
    channel_id: str
    container: AsyncContainer

    @property
    def base(self) -> str:
        return f"/api/tenants/{self.id}/conversations"

    async def inbound(
        self, text: str, contact: str = CONTACT, *, hours_ago: float = 0.0, provider_id: str | None = None
    ) -> str:
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
                    provider_message_id=provider_id,
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


WA_PATH = f"/v25.0/{PHONE_NUMBER_ID}/messages"
LAMP = "https://cdn.example.com/lamp.jpg"


@pytest.fixture
async def messenger(client: Client, tenant: Tenant, graph: FakeGraphApi) -> Tenant:
    """A Messenger Page of the same tenant."""
    channel = await create_channel(
        client,
        tenant.id,
        kind="messenger",
        name="Page",
        config={"page_id": PAGE_ID},
        secrets={"page_access_token": graph.page_token},
    )
    return Tenant(tenant.id, channel["id"], tenant.container)


@pytest.fixture
async def webchat(client: Client, tenant: Tenant) -> Tenant:
    channel = await create_channel(
        client, tenant.id, kind="webchat", name="Website", config={"allowed_origins": ["https://shop.example.com"]}
    )
    return Tenant(tenant.id, channel["id"], tenant.container)


async def newest_message_id(client: Client, tenant: Tenant, conversation_id: str) -> str:
    detail = (await client.get(f"{tenant.base}/{conversation_id}")).json()
    message_id: str = detail["messages"]["items"][0]["id"]
    return message_id


async def agent_messages(db: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT id, type, text, status, provider_message_id, content FROM messages WHERE sender = 'agent'"
        " ORDER BY created_at"
    )
    return [{**dict(row), "id": str(row["id"]), "content": json.loads(row["content"])} for row in rows]


async def test_an_agent_sends_media_a_template_buttons_a_list_and_a_reaction_on_whatsapp(
    client: Client, tenant: Tenant, graph: FakeGraphApi, db: asyncpg.Connection
) -> None:
    conversation_id = await tenant.inbound("can I see the lamp?", provider_id="wamid.IN1")
    question_id = await newest_message_id(client, tenant, conversation_id)
    url = f"{tenant.base}/{conversation_id}/messages"
    components = [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]
    requests: list[dict[str, Any]] = [
        {"media": {"type": "image", "link": LAMP, "caption": "The blue lamp"}, "agent_name": "Sam"},
        {"media": {"type": "document", "id": "4490709327384033", "filename": "invoice.pdf"}},
        {"template": {"name": "order_update", "language": "en_US", "components": components}},
        {
            "interactive": {
                "body": "Shall I reserve it?",
                "buttons": [{"id": "reserve", "title": "Yes"}, {"id": "skip", "title": "No"}],
                "footer": "Acme",
            }
        },
        {
            "interactive": {
                "body": "Which colour?",
                "list_button": "Colours",
                "sections": [{"title": "Lamps", "rows": [{"id": "blue", "title": "Blue", "description": "In stock"}]}],
            }
        },
        {"reaction": {"message_id": question_id, "emoji": "👍"}, "client_message_id": "react-1"},
    ]

    responses = []
    for body in requests:
        response = await client.post(url, json=body)
        assert response.status_code == 201, response.text
        responses.append(response.json())

    bodies = [r.json for r in graph.sent()]
    assert [b["to"] for b in bodies] == [f"+{CONTACT}"] * 6
    assert bodies[0]["image"] == {"link": LAMP, "caption": "The blue lamp"}
    assert bodies[1]["document"] == {"id": "4490709327384033", "filename": "invoice.pdf"}
    assert bodies[2]["template"] == {"name": "order_update", "language": {"code": "en_US"}, "components": components}
    assert bodies[3]["interactive"] == {
        "type": "button",
        "body": {"text": "Shall I reserve it?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "reserve", "title": "Yes"}},
                {"type": "reply", "reply": {"id": "skip", "title": "No"}},
            ]
        },
        "footer": {"text": "Acme"},
    }
    assert bodies[4]["interactive"]["action"] == {
        "button": "Colours",
        "sections": [{"title": "Lamps", "rows": [{"id": "blue", "title": "Blue", "description": "In stock"}]}],
    }
    assert bodies[5]["reaction"] == {"message_id": "wamid.IN1", "emoji": "👍"}
    summary = [(r["type"], r["status"], r["text"]) for r in responses]
    assert summary == [
        ("image", "sent", "The blue lamp"),
        ("document", "sent", ""),
        ("template", "sent", ""),
        ("interactive", "sent", "Shall I reserve it?"),
        ("interactive", "sent", "Which colour?"),
        ("reaction", "sent", "👍"),
    ]
    provider_ids = [r["provider_message_id"] for r in responses]
    assert all(pid.startswith("wamid.FAKE") for pid in provider_ids)
    assert len(set(provider_ids)) == 6
    stored = await agent_messages(db)
    assert [(m["id"], m["type"], m["status"], m["provider_message_id"]) for m in stored] == [
        (r["id"], r["type"], "sent", r["provider_message_id"]) for r in responses
    ]
    assert stored[0]["content"]["agent"] == "Sam"
    assert stored[5]["content"]["outbound"] == {"message_id": question_id, "provider_message_id": "wamid.IN1"}

    again = await client.post(url, json=requests[5])
    assert again.json()["id"] == responses[5]["id"]
    assert len(graph.sent()) == 6
    assert await event_types(db) == ["conversation.handoff"] + ["message.sent"] * 6


async def test_messenger_media_is_an_attachment_and_a_reaction_keeps_no_id_of_its_target(
    client: Client, messenger: Tenant, graph: FakeGraphApi, db: asyncpg.Connection
) -> None:
    conversation_id = await messenger.inbound("photo please?", contact=PSID, provider_id="m_IN1")
    question_id = await newest_message_id(client, messenger, conversation_id)
    url = f"{messenger.base}/{conversation_id}/messages"

    media = await client.post(url, json={"media": {"type": "image", "link": LAMP, "caption": "The blue lamp"}})
    reaction = await client.post(url, json={"reaction": {"message_id": question_id, "emoji": "❤️"}})

    bodies = [r.json for r in graph.sent()]
    assert bodies[0]["message"]["attachment"] == {"type": "image", "payload": {"url": LAMP, "is_reusable": True}}
    assert bodies[1]["message"]["text"] == "The blue lamp"  # Messenger attachments have no caption
    assert bodies[2] == {
        "recipient": {"id": PSID},
        "sender_action": "react",
        "payload": {"message_id": "m_IN1", "reaction": "❤️"},
    }
    assert (media.json()["type"], media.json()["status"], media.json()["provider_message_id"]) == (
        "image",
        "sent",
        "m_FAKE1",
    )
    # The send answer names no message: the reaction must not take over the id of the message it is on.
    assert (reaction.json()["type"], reaction.json()["status"], reaction.json()["provider_message_id"]) == (
        "reaction",
        "sent",
        None,
    )
    assert [m["type"] for m in await agent_messages(db)] == ["image", "reaction"]


async def test_a_long_text_goes_out_in_parts_once_even_when_the_request_is_repeated(
    client: Client, messenger: Tenant, graph: FakeGraphApi, db: asyncpg.Connection
) -> None:
    conversation_id = await messenger.inbound("tell me everything", contact=PSID)
    text = "Every sentence matters here. " * 140
    body = {"text": text, "client_message_id": "long-1"}

    first = await client.post(f"{messenger.base}/{conversation_id}/messages", json=body)
    again = await client.post(f"{messenger.base}/{conversation_id}/messages", json=body)

    parts = [r.json["message"]["text"] for r in graph.sent()]
    assert len(parts) == 3  # Messenger takes 2000 characters a message
    assert all(len(part) <= 2000 for part in parts)
    assert " ".join(parts) == text.strip()
    assert again.json()["id"] == first.json()["id"]
    # Statuses are tracked on the first part.
    [stored] = await agent_messages(db)
    assert (stored["status"], stored["provider_message_id"]) == ("sent", "m_FAKE1")


async def test_refused_sends_are_recorded_failed_with_metas_reason(
    client: Client, tenant: Tenant, graph: FakeGraphApi, db: asyncpg.Connection
) -> None:
    conversation_id = await tenant.inbound("hello")
    url = f"{tenant.base}/{conversation_id}/messages"
    graph.script.enqueue("POST", WA_PATH, GraphResponse.error(400, code=131026, message="Message undeliverable"))
    graph.script.enqueue(
        "POST", WA_PATH, *[GraphResponse.error(503, code=2, message="Service temporarily unavailable")] * 4
    )

    undeliverable = (await client.post(url, json={"media": {"type": "image", "link": LAMP}})).json()
    unavailable = (await client.post(url, json={"text": "Still there?", "client_message_id": "retry-1"})).json()
    repeated = (await client.post(url, json={"text": "Still there?", "client_message_id": "retry-1"})).json()

    assert undeliverable["status"] == "failed"
    assert undeliverable["error"] == {
        "code": "131026",
        "title": "Message undeliverable",
        "details": "",
        "retryable": False,
    }
    # Meta stayed unavailable through the client's own retries: recorded failed, marked worth another try
    # (under a new client_message_id: the same one answers with this message and sends nothing).
    assert (unavailable["status"], unavailable["error"]["retryable"]) == ("failed", True)
    assert repeated["id"] == unavailable["id"]
    assert len(graph.sent()) == 5
    assert [m["status"] for m in await agent_messages(db)] == ["failed", "failed"]
    assert await event_types(db) == ["conversation.handoff", "message.failed", "message.failed"]


async def test_outside_the_whatsapp_window_templates_go_out_and_media_and_reactions_fail(
    client: Client, tenant: Tenant, graph: FakeGraphApi, db: asyncpg.Connection
) -> None:
    conversation_id = await tenant.inbound("hello", hours_ago=30, provider_id="wamid.OLD")
    question_id = await newest_message_id(client, tenant, conversation_id)
    url = f"{tenant.base}/{conversation_id}/messages"

    template = await client.post(url, json={"template": {"name": "we_are_back", "language": "en"}})
    media = await client.post(url, json={"media": {"type": "image", "link": LAMP}})
    reaction = await client.post(url, json={"reaction": {"message_id": question_id, "emoji": "👍"}})

    assert template.json()["status"] == "sent"
    for refused in (media, reaction):
        assert (refused.json()["status"], refused.json()["error"]["code"]) == ("failed", "window_closed")
    assert [r.json["type"] for r in graph.sent()] == ["template"]
    assert [(m["type"], m["status"]) for m in await agent_messages(db)] == [
        ("template", "sent"),
        ("image", "failed"),
        ("reaction", "failed"),
    ]


async def test_an_agent_text_outside_the_window_becomes_the_reengagement_template(
    client: Client, tenant: Tenant, graph: FakeGraphApi
) -> None:
    patched = await client.patch(
        f"/api/tenants/{tenant.id}", json={"settings": {"whatsapp_reengagement_template": "back"}}
    )
    assert patched.status_code == 200, patched.text
    conversation_id = await tenant.inbound("hello", hours_ago=30)

    sent = (await client.post(f"{tenant.base}/{conversation_id}/messages", json={"text": "Sorry!"})).json()

    assert (sent["type"], sent["status"], sent["content"]["withheld_text"]) == ("template", "sent", "Sorry!")
    assert [r.json["template"]["name"] for r in graph.sent()] == ["back"]


IMAGE_BY_LINK = {"type": "image", "link": LAMP}


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({}, "exactly one of text, media"),
        ({"agent_name": "Sam"}, "exactly one of text, media"),
        ({"text": "hi", "media": IMAGE_BY_LINK}, "(got text, media)"),
        ({"media": {**IMAGE_BY_LINK, "id": "123"}}, "exactly one of link or id"),
        ({"media": {"type": "image"}}, "exactly one of link or id"),
        ({"media": {"type": "audio", "link": LAMP, "caption": "listen"}}, "audio media takes no caption"),
        ({"media": {"type": "image", "link": LAMP, "filename": "a.jpg"}}, "only document media"),
        ({"media": {"type": "gif", "link": LAMP}}, "media.type"),
        ({"media": {"type": "image", "link": "ftp://example.com/a.jpg"}}, "media.link"),
        ({"interactive": {"body": "Pick"}}, "either buttons or sections"),
        (
            {"interactive": {"body": "Pick", "buttons": [{"id": "a", "title": "A"}], "sections": [{"rows": []}]}},
            "interactive.sections",
        ),
        ({"interactive": {"body": "Pick", "buttons": [{"id": str(n), "title": "B"} for n in range(4)]}}, "buttons"),
        (
            {"interactive": {"body": "Pick", "sections": [{"rows": [{"id": "r", "title": "R"}]}]}},
            "list needs list_button",
        ),
        ({"template": {"name": "Order Update", "language": "en_US"}}, "template.name"),
        ({"reaction": {"message_id": "not-a-uuid", "emoji": "👍"}}, "reaction.message_id"),
        ({"text": "hi", "surprise": True}, "surprise"),
    ],
)
async def test_malformed_messages_are_refused_and_change_nothing(
    client: Client, tenant: Tenant, graph: FakeGraphApi, db: asyncpg.Connection, body: dict[str, Any], complaint: str
) -> None:
    conversation_id = await tenant.inbound("hello")

    response = await client.post(f"{tenant.base}/{conversation_id}/messages", json=body)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"
    assert complaint in json.dumps(response.json()["error"]["details"])
    assert await agent_messages(db) == []
    assert await event_types(db) == []
    assert graph.sent() == []


async def test_what_a_channel_cannot_carry_is_refused_before_anything_changes(
    client: Client, messenger: Tenant, webchat: Tenant, graph: FakeGraphApi, db: asyncpg.Connection
) -> None:
    on_messenger = await messenger.inbound("hello", contact=PSID)
    on_webchat = await webchat.inbound("hello", contact="visitor-1")
    question_id = await newest_message_id(client, webchat, on_webchat)
    buttons = {"body": "Pick", "buttons": [{"id": "a", "title": "A"}]}
    refusals = [
        (messenger, on_messenger, {"template": {"name": "order_update", "language": "en_US"}}, "template"),
        (webchat, on_webchat, {"template": {"name": "order_update", "language": "en_US"}}, "template"),
        (webchat, on_webchat, {"media": IMAGE_BY_LINK}, "media"),
        (webchat, on_webchat, {"interactive": buttons}, "interactive"),
        (webchat, on_webchat, {"reaction": {"message_id": question_id, "emoji": "👍"}}, "reaction"),
    ]

    for channel, conversation_id, body, kind in refusals:
        response = await client.post(f"{channel.base}/{conversation_id}/messages", json=body)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert (error["code"], error["details"]["field"]) == ("invalid_input", kind)
        assert f"cannot send {kind}" in error["message"]

    assert await agent_messages(db) == []
    assert await event_types(db) == []
    states = {row["state"] for row in await db.fetch("SELECT state FROM conversations")}
    assert states == {"bot"}
    assert graph.sent() == []


async def test_an_interactive_message_over_the_channels_own_limits_is_refused_before_anything_changes(
    client: Client, messenger: Tenant, graph: FakeGraphApi, db: asyncpg.Connection
) -> None:
    conversation_id = await messenger.inbound("hello", contact=PSID)
    # Within the API's limits (1024 characters), past Messenger's button template (640).
    body = {"interactive": {"body": "x" * 700, "buttons": [{"id": "a", "title": "A"}]}}

    response = await client.post(f"{messenger.base}/{conversation_id}/messages", json=body)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["details"]["field"]) == ("invalid_input", "interactive")
    assert "640 characters" in error["message"]
    assert await agent_messages(db) == []
    assert await event_types(db) == []
    assert {row["state"] for row in await db.fetch("SELECT state FROM conversations")} == {"bot"}
    assert graph.sent() == []


async def test_a_reaction_only_reaches_delivered_messages_of_its_own_conversation(
    client: Client, tenant: Tenant, container: AsyncContainer, graph: FakeGraphApi, db: asyncpg.Connection
) -> None:
    conversation_id = await tenant.inbound("hello", provider_id="wamid.MINE")
    elsewhere = await tenant.inbound("hi there", contact="222", provider_id="wamid.THEIRS")
    other_conversation_message = await newest_message_id(client, tenant, elsewhere)
    other = await create_tenant(client, "Other")
    other_channel = await create_channel(
        client, other["id"], kind="webchat", name="Website", config={"allowed_origins": ["https://other.example"]}
    )
    other_tenant = Tenant(other["id"], other_channel["id"], container)
    other_tenant_message = await newest_message_id(
        client, other_tenant, await other_tenant.inbound("secret", contact="visitor-9", provider_id="wamid.MINE")
    )
    unsent = await tenant.inbound("no provider id yet")  # same conversation, stored without a provider id
    unsent_message = await newest_message_id(client, tenant, unsent)
    assert unsent == conversation_id
    url = f"{tenant.base}/{conversation_id}/messages"

    def react(message_id: str) -> dict[str, Any]:
        return {"reaction": {"message_id": message_id, "emoji": "👍"}}

    for message_id in (other_conversation_message, other_tenant_message, str(uuid.uuid4())):
        missing = await client.post(url, json=react(message_id))
        assert missing.status_code == 404, missing.text
    undelivered = await client.post(url, json=react(unsent_message))
    assert undelivered.status_code == 422
    assert undelivered.json()["error"]["details"] == {"field": "reaction", "message_id": unsent_message}

    assert await agent_messages(db) == []
    assert await event_types(db) == []
    assert graph.sent() == []


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
    assert len((await client.get(tenant.base, params={"until": "2999-01-01T00:00:00Z"})).json()["items"]) == 3
    # RFC 3339 with a zone, as documented: no Unix timestamps, no local times, no impossible dates.
    for instant in ("0.5", "1764079300", "2026-01-01T00:00:00", "2026-13-01T00:00:00Z"):
        refused = await client.get(tenant.base, params={"since": instant})
        assert refused.status_code == 422, (instant, refused.text)

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
