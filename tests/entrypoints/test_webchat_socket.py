"""/ws/webchat over a real server: who may connect, messages stored once per client id, streamed answers,
resume by sequence number, several tabs, bad frames and abuse, and several API processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from dishka import AsyncContainer, Provider, Scope, provide
from litestar import Litestar

from adapters.webchat.tokens import JwtVisitorTokens
from application.ports.clock import Clock
from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.webchat import LiveEvent, LiveEventKind, LiveFanout, VisitorTokens, VisitorTopic
from application.webchat.read_visitor_conversation import PAGE_SIZE
from domain.common.ids import ChannelId, ConversationId, MessageId, TenantId, new_id
from domain.conversations.message import DeliveryStatus, Direction, Message, MessageType, SenderRole
from entrypoints.http.app import create_app
from entrypoints.ioc.containers import make_http_container
from entrypoints.settings import Settings
from entrypoints.ws.protocol import MAX_FRAME_CHARS
from entrypoints.ws.webchat import MAX_SOCKETS_PER_VISITOR
from tests.support.webchat import (
    SITE,
    ScriptedAssistant,
    create_widget,
    serve,
    start_session,
    widget_socket,
)

Client = httpx.AsyncClient


@pytest.fixture
async def server(app: Litestar, client: Client) -> AsyncIterator[str]:
    async with serve(app) as base_url:
        yield base_url


@pytest.fixture
async def widget(client: Client) -> dict[str, Any]:
    return await create_widget(client)


@pytest.fixture
async def session(client: Client, widget: dict[str, Any]) -> dict[str, Any]:
    return await start_session(client, widget["widget_id"])


async def _rows(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


async def _conversation_id(database_url: str, visitor_id: str) -> str:
    rows = await _rows(database_url, "SELECT id FROM conversations WHERE contact_id = $1", visitor_id)
    assert len(rows) == 1
    return str(rows[0]["id"])


class _Clock:
    def __init__(self, moment: datetime | None = None) -> None:
        self.moment = moment or datetime.now(UTC)

    def now(self) -> datetime:
        return self.moment


# --- connecting ----------------------------------------------------------------------------------


async def test_a_visitor_message_comes_back_numbered_and_queues_one_turn(
    server: str, session: dict[str, Any], widget: dict[str, Any], database_url: str
) -> None:
    async with widget_socket(server, session["token"]) as tab:
        client_id = await tab.say("  Where is my order?  ")
        [echo] = await tab.messages(1)

    assert echo["role"] == "visitor"
    assert echo["seq"] == 1
    assert echo["clientId"] == client_id
    assert echo["text"] == "Where is my order?"
    messages = await _rows(database_url, "SELECT id, conversation_id, direction, text, seq FROM messages")
    assert [(str(row["id"]), row["direction"], row["seq"]) for row in messages] == [(echo["id"], "inbound", 1)]
    tasks = await _rows(database_url, "SELECT payload, aggregate_key FROM outbox WHERE kind = 'task'")
    assert len(tasks) == 1
    task = json.loads(tasks[0]["payload"]) if isinstance(tasks[0]["payload"], str) else tasks[0]["payload"]
    assert task["name"] == "conversation.turn"
    assert task["payload"] == {"message_id": echo["id"], "conversation_id": str(messages[0]["conversation_id"])}
    assert task["ordering_key"] == f"contact:{widget['channel_id']}:{session['visitorId']}"


async def test_nul_characters_are_dropped_from_a_visitor_message(server: str, session: dict[str, Any]) -> None:
    # As on WhatsApp and Messenger: they mean nothing in a chat, and Postgres text cannot hold them.
    async with widget_socket(server, session["token"]) as tab:
        await tab.say("Where\x00 is my order?")
        [echo] = await tab.messages(1)
    assert echo["role"] == "visitor"
    assert echo["text"] == "Where is my order?"


async def test_a_resent_client_id_is_stored_once(server: str, session: dict[str, Any], database_url: str) -> None:
    async with widget_socket(server, session["token"]) as tab:
        await tab.say("Hello", client_id="c-1")
        [first] = await tab.messages(1)
        await tab.say("Hello", client_id="c-1")
        assert await tab.silent_for(0.5) == []
    # After a reconnect the widget sends what it never saw confirmed; the copy changes nothing.
    async with widget_socket(server, session["token"], last_seq=0) as tab:
        await tab.say("Hello", client_id="c-1")
        [replayed] = await tab.messages(1)
        assert await tab.silent_for(0.5) == []

    assert replayed == first
    assert len(await _rows(database_url, "SELECT 1 FROM messages")) == 1
    assert len(await _rows(database_url, "SELECT 1 FROM outbox WHERE kind = 'task'")) == 1


async def _refusal(base_url: str, token: str, origin: str | None = None) -> tuple[dict[str, Any], int | None]:
    async with widget_socket(base_url, token, origin=origin, last_seq=None) as tab:
        frame = await tab.receive()
        return frame, await tab.closed_with()


async def test_missing_forged_foreign_and_expired_tokens_are_refused(
    server: str, session: dict[str, Any], widget: dict[str, Any], settings: Settings
) -> None:
    past = _Clock(datetime.now(UTC) - timedelta(minutes=16))
    own = JwtVisitorTokens(settings.secret_key or "", past)
    expired = own.issue(
        TenantId(uuid.UUID(widget["tenant_id"])),
        ChannelId(uuid.UUID(widget["channel_id"])),
        widget["widget_id"],
        own.new_visitor_id(),
    ).token
    foreign = JwtVisitorTokens("another-platform-secret", _Clock())
    foreign_token = foreign.issue(
        TenantId(uuid.UUID(widget["tenant_id"])),
        ChannelId(uuid.UUID(widget["channel_id"])),
        widget["widget_id"],
        foreign.new_visitor_id(),
    ).token
    header, payload, signature = session["token"].split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"

    for token in ("", "garbage", forged, foreign_token, expired):
        frame, code = await _refusal(server, token)
        assert (frame["type"], frame["code"], code) == ("error", "invalid_token", 4401), token


async def test_a_token_for_a_deleted_channel_is_refused(
    server: str, client: Client, session: dict[str, Any], widget: dict[str, Any]
) -> None:
    deleted = await client.delete(f"/api/tenants/{widget['tenant_id']}/channels/{widget['channel_id']}")
    assert deleted.status_code == 204

    frame, code = await _refusal(server, session["token"])

    assert (frame["code"], code) == ("invalid_token", 4401)


async def test_a_deactivated_channel_and_a_foreign_site_are_forbidden(
    server: str, client: Client, session: dict[str, Any], widget: dict[str, Any]
) -> None:
    frame, code = await _refusal(server, session["token"], origin="https://evil.example")
    assert (frame["code"], code) == ("forbidden", 4403)
    # The widget's own frame (same origin as the platform) and allowed sites connect.
    for origin in (server, SITE):
        async with widget_socket(server, session["token"], origin=origin) as tab:
            await tab.say("hi")
            assert (await tab.messages(1))[0]["text"] == "hi"

    replaced = await client.put(
        f"/api/tenants/{widget['tenant_id']}/channels/{widget['channel_id']}",
        json={
            "name": "Website",
            "config": {"widget_id": widget["widget_id"], "allowed_origins": [SITE]},
            "active": False,
        },
    )
    assert replaced.status_code == 200
    frame, code = await _refusal(server, session["token"])
    assert (frame["code"], code) == ("forbidden", 4403)


async def test_the_connection_ends_when_its_token_expires(settings: Settings, client: Client) -> None:
    class ShortTokens(Provider):
        @provide(scope=Scope.APP)
        def tokens(self, clock: Clock) -> VisitorTokens:
            return JwtVisitorTokens(settings.secret_key or "", clock, ttl_seconds=2)

    container = make_http_container(settings, ShortTokens())
    app = create_app(container, settings)
    widget = await create_widget(client)
    try:
        async with (
            serve(app) as base_url,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as short_client,
        ):
            session = await start_session(short_client, widget["widget_id"])
            async with widget_socket(base_url, session["token"]) as tab:
                frames = await tab.receive_until("error", within=5)
                assert frames[-1]["code"] == "token_expired"
                assert await tab.closed_with() == 4401
    finally:
        await container.close()


# --- answers, resume, tabs -----------------------------------------------------------------------


async def test_streamed_deltas_concatenate_to_the_final_message(
    server: str, session: dict[str, Any], container: AsyncContainer, database_url: str, widget: dict[str, Any]
) -> None:
    pieces = ["Your order ", "ships **tomorrow**", " [1]."]
    citations = [{"number": 1, "document_id": "d1", "title": "Shipping policy", "url": "https://shop.example/ship"}]
    async with widget_socket(server, session["token"]) as tab:
        await tab.say("When does my order ship?")
        await tab.messages(1)
        conversation_id = await _conversation_id(database_url, session["visitorId"])
        reply_id = await ScriptedAssistant(container).answer(widget["tenant_id"], conversation_id, pieces, citations)
        frames = await tab.receive_until("typing", on=False)

    assert frames[0] == {"type": "typing", "on": True, "role": "bot"}
    deltas = [frame for frame in frames if frame["type"] == "delta"]
    [final] = [frame for frame in frames if frame["type"] == "message"]
    assert {delta["replyId"] for delta in deltas} == {reply_id}
    assert "".join(delta["text"] for delta in deltas) == final["text"] == "".join(pieces)
    assert (final["id"], final["role"], final["seq"]) == (reply_id, "bot", 2)
    assert final["citations"] == [{"number": 1, "title": "Shipping policy", "url": "https://shop.example/ship"}]
    assert frames.index(final) > max(frames.index(delta) for delta in deltas)


async def test_a_reconnecting_widget_gets_exactly_what_it_missed(
    server: str, session: dict[str, Any], container: AsyncContainer, database_url: str, widget: dict[str, Any]
) -> None:
    assistant = ScriptedAssistant(container)
    async with widget_socket(server, session["token"]) as tab:
        await tab.say("first")
        [first] = await tab.messages(1)
    conversation_id = await _conversation_id(database_url, session["visitorId"])
    # Written while the widget was away (a network blip, a closed laptop).
    await assistant.answer(widget["tenant_id"], conversation_id, ["missed answer"])
    await assistant.answer(widget["tenant_id"], conversation_id, ["an agent's note"], sender=SenderRole.AGENT)

    async with widget_socket(server, session["token"], last_seq=first["seq"]) as tab:
        missed = await tab.messages(2)
        assert await tab.silent_for(0.5) == []
    async with widget_socket(server, session["token"], last_seq=3) as tab:
        assert await tab.silent_for(0.5) == []
    # A reloaded page starts from nothing and sees the whole history.
    async with widget_socket(server, session["token"], last_seq=0) as tab:
        history = await tab.messages(3)

    assert [(frame["seq"], frame["role"], frame["text"]) for frame in missed] == [
        (2, "bot", "missed answer"),
        (3, "agent", "an agent's note"),
    ]
    assert [frame["seq"] for frame in history] == [1, 2, 3]


async def test_a_long_history_arrives_whole_and_in_order(
    server: str, session: dict[str, Any], container: AsyncContainer, database_url: str, widget: dict[str, Any]
) -> None:
    async with widget_socket(server, session["token"]) as tab:
        await tab.say("start")
        await tab.messages(1)
    conversation = ConversationId(uuid.UUID(await _conversation_id(database_url, session["visitorId"])))
    tenant, channel = TenantId(uuid.UUID(widget["tenant_id"])), ChannelId(uuid.UUID(widget["channel_id"]))
    uow_factory = await container.get(UnitOfWorkFactory)
    async with uow_factory(tenant) as uow:
        for index in range(2 * PAGE_SIZE + 10):
            await uow.messages.add(
                Message(
                    id=MessageId(new_id()),
                    tenant_id=tenant,
                    conversation_id=conversation,
                    channel_id=channel,
                    direction=Direction.OUTBOUND,
                    sender=SenderRole.BOT,
                    type=MessageType.TEXT,
                    text=f"line {index}",
                    status=DeliveryStatus.SENT,
                )
            )
        await uow.commit()

    async with widget_socket(server, session["token"], last_seq=0) as tab:
        history = await tab.messages(2 * PAGE_SIZE + 11, within=20)
        assert await tab.silent_for(0.3) == []

    assert [frame["seq"] for frame in history] == list(range(1, 2 * PAGE_SIZE + 12))
    assert history[-1]["text"] == f"line {2 * PAGE_SIZE + 9}"


async def test_an_ack_below_what_was_sent_replays_from_there(server: str, session: dict[str, Any]) -> None:
    async with widget_socket(server, session["token"]) as tab:
        for text in ("one", "two"):
            await tab.say(text)
            await tab.messages(1)
        await tab.ack(1)
        [again] = await tab.messages(1)
        await tab.ack(2)
        assert await tab.silent_for(0.3) == []

    assert (again["seq"], again["text"]) == (2, "two")


async def test_every_tab_of_a_visitor_sees_the_conversation_and_nobody_else_does(
    server: str,
    client: Client,
    session: dict[str, Any],
    container: AsyncContainer,
    database_url: str,
    widget: dict[str, Any],
) -> None:
    second_tab_session = await start_session(client, widget["widget_id"], visitor_id=session["visitorId"])
    stranger = await start_session(client, widget["widget_id"])
    async with (
        widget_socket(server, session["token"]) as first_tab,
        widget_socket(server, second_tab_session["token"]) as second_tab,
        widget_socket(server, stranger["token"]) as stranger_tab,
    ):
        await first_tab.say("from the first tab")
        echoes = [(await tab.messages(1))[0] for tab in (first_tab, second_tab)]
        conversation_id = await _conversation_id(database_url, session["visitorId"])
        await ScriptedAssistant(container).answer(widget["tenant_id"], conversation_id, ["for ", "both"])
        answers = [(await tab.receive_until("message"))[-1] for tab in (first_tab, second_tab)]
        stranger_frames = await stranger_tab.silent_for(0.5)

    assert echoes[0] == echoes[1]
    assert [answer["text"] for answer in answers] == ["for both", "for both"]
    assert stranger_frames == []


async def test_a_person_joining_and_leaving_is_announced(
    server: str, session: dict[str, Any], container: AsyncContainer, database_url: str, widget: dict[str, Any]
) -> None:
    uow_factory = await container.get(UnitOfWorkFactory)
    fanout = await container.get(LiveFanout)
    tenant = TenantId(uuid.UUID(widget["tenant_id"]))
    topic = VisitorTopic(tenant, ChannelId(uuid.UUID(widget["channel_id"])), session["visitorId"])

    async def set_human(with_human: bool) -> None:
        conversation_id = ConversationId(uuid.UUID(await _conversation_id(database_url, session["visitorId"])))
        async with uow_factory(tenant) as uow:
            conversation = await uow.conversations.get(tenant, conversation_id)
            assert conversation is not None
            if with_human:
                conversation.hand_to_human("asked for a person")
            else:
                conversation.release_to_bot()
            await uow.conversations.update(conversation)
            await uow.commit()
        await fanout.publish(topic, LiveEvent(LiveEventKind.HANDOFF))

    async with widget_socket(server, session["token"]) as tab:
        await tab.say("a person please")
        await tab.messages(1)
        await set_human(True)
        joined = await tab.receive()
        await set_human(False)
        left = await tab.receive()
    # A widget connecting while a person has the conversation is told so straight away.
    await set_human(True)
    async with widget_socket(server, session["token"], last_seq=1) as tab:
        on_connect = await tab.receive()

    assert joined == {"type": "handoff", "state": "joined"}
    assert left == {"type": "handoff", "state": "left"}
    assert on_connect == {"type": "handoff", "state": "joined"}


# --- bad frames and abuse ------------------------------------------------------------------------


async def test_bad_frames_get_error_frames_and_the_connection_lives_on(server: str, session: dict[str, Any]) -> None:
    bad: list[tuple[str | bytes, str]] = [
        ("not json", "bad_frame"),
        ("[1, 2]", "bad_frame"),
        (json.dumps({"type": "shout"}), "unknown_type"),
        (json.dumps({"kind": "message"}), "unknown_type"),
        (b"\x00\x01binary", "bad_frame"),
        (json.dumps({"type": "message", "text": "x" * (MAX_FRAME_CHARS + 1), "id": "big"}), "too_large"),
        (json.dumps({"type": "message", "id": 7, "text": "hi"}), "invalid_message"),
        (json.dumps({"type": "message", "id": "no text"}), "invalid_message"),
        (json.dumps({"type": "message", "id": "bad id!", "text": "hi"}), "invalid_message"),
        (json.dumps({"type": "message", "id": "empty", "text": "   "}), "invalid_message"),
        (json.dumps({"type": "message", "id": "long", "text": "x" * 4001}), "invalid_message"),
        (json.dumps({"type": "ack", "seq": -1}), "bad_frame"),
        (json.dumps({"type": "ack", "seq": "3"}), "bad_frame"),
        (json.dumps({"type": "typing", "on": "yes"}), "bad_frame"),
    ]
    async with widget_socket(server, session["token"]) as tab:
        codes = []
        for frame, _ in bad:
            await tab.send(frame)
            reply = await tab.receive()
            assert reply["type"] == "error"
            codes.append(reply["code"])
        await tab.say("still here")
        [echo] = await tab.messages(1)

    assert codes == [code for _, code in bad]
    assert echo["text"] == "still here"


async def test_a_flood_of_frames_closes_the_connection_as_abusive(server: str, session: dict[str, Any]) -> None:
    async with widget_socket(server, session["token"], last_seq=None) as tab:
        for _ in range(100):
            await tab.send({"type": "typing", "on": True})
        frames, code = await tab.frames_until_closed()
    assert code == 1008
    assert {"type": "error", "code": "rate_limited", "message": "too many frames; slow down"} in frames
    # The server is fine: a new connection works.
    async with widget_socket(server, session["token"]) as tab:
        await tab.say("calm again")
        assert (await tab.messages(1))[0]["text"] == "calm again"


async def test_a_huge_frame_is_cut_off_by_the_server(server: str, session: dict[str, Any]) -> None:
    async with widget_socket(server, session["token"], last_seq=None) as tab:
        await tab.send("x" * (200 * 1024))
        assert await tab.closed_with() == 1009


async def test_a_visitor_holding_too_many_sockets_is_refused_another(server: str, session: dict[str, Any]) -> None:
    async with contextlib.AsyncExitStack() as tabs:
        for _ in range(MAX_SOCKETS_PER_VISITOR):
            tab = await tabs.enter_async_context(widget_socket(server, session["token"]))
            await tab.silent_for(0.05)
        frame, code = await _refusal(server, session["token"])
    assert (frame["code"], code) == ("too_many_connections", 1008)
    # Closed tabs free their places.
    async with widget_socket(server, session["token"]) as tab:
        await tab.say("room again")
        assert (await tab.messages(1))[0]["text"] == "room again"


async def test_too_many_messages_from_one_visitor_are_refused_without_storing_them(
    server: str, session: dict[str, Any], database_url: str
) -> None:
    async with widget_socket(server, session["token"]) as tab:
        for index in range(20):
            await tab.say(f"message {index}")
            await tab.messages(1)
            await asyncio.sleep(0.05)
        refused_id = await tab.say("one too many")
        refused = await tab.receive()

    assert (refused["type"], refused["code"], refused["id"]) == ("error", "rate_limited", refused_id)
    assert len(await _rows(database_url, "SELECT 1 FROM messages")) == 20


# --- several API processes -----------------------------------------------------------------------


async def test_an_answer_reaches_the_socket_held_by_another_api_process(
    server: str, session: dict[str, Any], settings: Settings, database_url: str, widget: dict[str, Any]
) -> None:
    assert settings.redis_url is not None
    # A second process: its own container, its own Redis pub/sub connection (the worker, say).
    other_process = make_http_container(settings)
    try:
        async with widget_socket(server, session["token"]) as tab:
            await tab.say("answer me from elsewhere")
            await tab.messages(1)
            conversation_id = await _conversation_id(database_url, session["visitorId"])
            reply_id = await ScriptedAssistant(other_process).answer(
                widget["tenant_id"], conversation_id, ["from ", "the other process"]
            )
            frames = await tab.receive_until("message")
    finally:
        await other_process.close()

    assert "".join(frame["text"] for frame in frames if frame["type"] == "delta") == "from the other process"
    assert (frames[-1]["id"], frames[-1]["text"]) == (reply_id, "from the other process")
