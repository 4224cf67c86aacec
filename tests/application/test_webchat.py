"""Web chat use cases on real Postgres: what the widget is shown of a conversation, the demo set-up, and
handoff announcements."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from dishka import AsyncContainer

from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.webchat import LiveEventKind, LiveFanout, VisitorClaims, VisitorTokens, VisitorTopic
from application.webchat.prepare_demo import (
    DEMO_DOCUMENT_NAME,
    DEMO_WIDGET_ID,
    PrepareWebChatDemo,
    PrepareWebChatDemoInput,
)
from application.webchat.read_visitor_conversation import ReadVisitorConversation, ReadVisitorConversationInput
from application.webchat.receive_visitor_message import ReceiveVisitorMessage, ReceiveVisitorMessageInput
from application.webchat.show_handoff_in_widget import ShowHandoffInWidget
from domain.common.ids import ChannelId, TenantId
from domain.conversations.turn import system_note
from domain.events import Event, EventType
from tests.support.api import create_channel
from tests.support.webchat import create_widget


async def _visitor(container: AsyncContainer, widget: dict[str, Any]) -> VisitorClaims:
    tokens = await container.get(VisitorTokens)
    issued = tokens.issue(
        TenantId(uuid.UUID(widget["tenant_id"])),
        ChannelId(uuid.UUID(widget["channel_id"])),
        widget["widget_id"],
        tokens.new_visitor_id(),
    )
    return issued.claims


async def test_the_widget_is_not_shown_the_teams_notes(client: httpx.AsyncClient, container: AsyncContainer) -> None:
    widget = await create_widget(client)
    visitor = await _visitor(container, widget)
    async with container() as request:
        receive = await request.get(ReceiveVisitorMessage)
        accepted = await receive.execute(ReceiveVisitorMessageInput(visitor, "c1", "a person, please"))
    uow_factory = await container.get(UnitOfWorkFactory)
    async with uow_factory(visitor.tenant_id) as uow:
        conversation = await uow.conversations.get(visitor.tenant_id, accepted.conversation_id)
        assert conversation is not None
        conversation.hand_to_human("asked for a person")
        await uow.conversations.update(conversation)
        await uow.messages.add(system_note(conversation, "handoff", "Handed to a person: asked for a person"))
        await uow.commit()

    async with container() as request:
        read = await request.get(ReadVisitorConversation)
        update = await read.execute(ReadVisitorConversationInput(visitor, after_seq=0))

    assert [(message.role, message.text, message.client_id) for message in update.messages] == [
        ("visitor", "a person, please", "c1")
    ]
    # The note is skipped but read: the cursor moves past it.
    assert update.last_seq == 2
    assert str(update.state) == "human"


async def test_a_handoff_event_pokes_the_visitors_widget_and_only_for_web_chat(
    client: httpx.AsyncClient, container: AsyncContainer
) -> None:
    widget = await create_widget(client)
    tenant = TenantId(uuid.UUID(widget["tenant_id"]))
    whatsapp = await create_channel(
        client, widget["tenant_id"], kind="whatsapp", name="WhatsApp", config={"phone_number_id": "1234567890"}
    )
    fanout = await container.get(LiveFanout)
    web_topic = VisitorTopic(tenant, ChannelId(uuid.UUID(widget["channel_id"])), "v_visitor")
    whatsapp_topic = VisitorTopic(tenant, ChannelId(uuid.UUID(whatsapp["id"])), "15551234567")

    def handoff(channel_id: str, contact_id: str) -> Event:
        return Event(
            type=EventType.CONVERSATION_HANDOFF,
            tenant_id=tenant,
            aggregate_key="conversation:x",
            data={"conversation_id": str(uuid.uuid4()), "channel_id": channel_id, "contact_id": contact_id},
        )

    async with fanout.subscribe(web_topic) as web, fanout.subscribe(whatsapp_topic) as phone:
        async with container() as request:
            announce = await request.get(ShowHandoffInWidget)
            await announce.execute(handoff(whatsapp["id"], "15551234567"))
            await announce.execute(handoff(widget["channel_id"], "v_visitor"))
            await announce.execute(handoff("not-a-uuid", "v_visitor"))
        event = await asyncio.wait_for(anext(web), 3)
        assert event.kind is LiveEventKind.HANDOFF
        # A WhatsApp conversation has no widget to tell.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(phone), 0.3)


async def test_the_demo_is_made_once_and_follows_the_servers_origin(
    client: httpx.AsyncClient, container: AsyncContainer
) -> None:
    async def prepare(*origins: str) -> Any:
        async with container() as request:
            use_case = await request.get(PrepareWebChatDemo)
            return await use_case.execute(PrepareWebChatDemoInput(origins=origins))

    first = await prepare("http://localhost:8000", "http://127.0.0.1:8000")
    again = await prepare("http://localhost:8000", "http://127.0.0.1:8000")
    moved = await prepare("http://localhost:9000")

    assert (first.created, again.created, moved.created) == (True, False, False)
    assert first.tenant_id == again.tenant_id == moved.tenant_id
    tenants = (await client.get("/api/tenants")).json()["items"]
    assert [tenant["name"] for tenant in tenants].count("Northwind Outdoor (demo)") == 1
    session = await client.post(
        "/api/webchat/sessions", json={"widgetId": DEMO_WIDGET_ID}, headers={"Origin": "http://localhost:9000"}
    )
    old_origin = await client.post(
        "/api/webchat/sessions", json={"widgetId": DEMO_WIDGET_ID}, headers={"Origin": "http://localhost:8000"}
    )
    assert session.status_code == 200
    assert session.json()["widget"]["title"] == "Northwind Outdoor"
    assert old_origin.status_code == 403
    # Its knowledge: one document, uploaded on the first start only.
    documents = (await client.get(f"/api/tenants/{first.tenant_id}/documents")).json()["items"]
    assert [document["filename"] for document in documents] == [DEMO_DOCUMENT_NAME]
