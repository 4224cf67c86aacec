"""The widget's WebSocket: /ws/webchat?token=…

Each connection authenticates once, subscribes to its visitor's live topic, and then runs two loops:
frames from the browser become use-case calls (one dishka REQUEST scope per frame), and live events
become frames. Messages always come from the database by sequence number, so every tab of a visitor,
in whichever API process, shows the same conversation and a reconnect misses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from dishka import AsyncContainer
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from application.errors import ApplicationError, Forbidden, InvalidInput, ServiceUnavailable
from application.ports.clock import Clock
from application.ports.webchat import (
    InvalidVisitorToken,
    LiveEvent,
    LiveEventKind,
    LiveFanout,
    VisitorClaims,
    VisitorTopic,
)
from application.webchat.open_visitor_connection import OpenVisitorConnection, OpenVisitorConnectionInput
from application.webchat.read_visitor_conversation import ReadVisitorConversation, ReadVisitorConversationInput
from application.webchat.receive_visitor_message import ReceiveVisitorMessage, ReceiveVisitorMessageInput
from application.webchat.show_visitor_typing import ShowVisitorTyping, ShowVisitorTypingInput
from domain.conversations.conversation import ConversationState
from entrypoints.logging import tenant_id_var
from entrypoints.ws.protocol import (
    CLOSE_FORBIDDEN,
    CLOSE_GOING_AWAY,
    CLOSE_POLICY_VIOLATION,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHORIZED,
    Ack,
    BadFrame,
    SendMessage,
    Typing,
    error_frame,
    message_frame,
    parse_client_frame,
)

logger = logging.getLogger(__name__)

# Per connection: a burst of 20 frames, then 5 a second. The widget sends a typing frame at most every
# two seconds and an ack per message; only a script gets near this.
FRAME_BURST = 20
FRAMES_PER_SECOND = 5.0
# Bad or over-budget frames a connection may send before it is closed as abusive.
MAX_STRIKES = 20
# Sockets one visitor may hold in one API process: a few tabs are normal, hundreds are a script.
MAX_SOCKETS_PER_VISITOR = 10
# A sender that sends before it commits: look again this long after an announced message was not found.
RECHECK_DELAYS = (0.25, 1.0, 3.0)


@websocket("/ws/webchat", name="webchat_socket")
async def webchat_socket(socket: WebSocket[Any, Any, Any]) -> None:
    container: AsyncContainer = socket.state.dishka_container
    await socket.accept()
    connection = VisitorConnection(socket, container)
    with contextlib.suppress(WebSocketDisconnect):
        await connection.run()


class OpenSockets:
    """The web chat sockets this process holds, counted per visitor."""

    def __init__(self, per_visitor: int = MAX_SOCKETS_PER_VISITOR) -> None:
        self._per_visitor = per_visitor
        self._counts: dict[str, int] = {}

    def enter(self, key: str) -> bool:
        count = self._counts.get(key, 0)
        if count >= self._per_visitor:
            return False
        self._counts[key] = count + 1
        return True

    def leave(self, key: str) -> None:
        count = self._counts.get(key, 0) - 1
        if count > 0:
            self._counts[key] = count
        else:
            self._counts.pop(key, None)


class _FrameBudget:
    """Token bucket of one connection."""

    def __init__(self) -> None:
        self._tokens = float(FRAME_BURST)
        self._refilled = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(float(FRAME_BURST), self._tokens + (now - self._refilled) * FRAMES_PER_SECOND)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class VisitorConnection:
    def __init__(self, socket: WebSocket[Any, Any, Any], container: AsyncContainer) -> None:
        self._socket = socket
        self._container = container
        self._send_lock = asyncio.Lock()
        self._catch_up_lock = asyncio.Lock()
        self._budget = _FrameBudget()
        self._strikes = 0
        self._flood_reported = False
        # Highest sequence number this socket has sent; None until the client said where it stands.
        self._cursor: int | None = None
        self._state: ConversationState | None = None
        self._recheck: asyncio.Task[None] | None = None
        self._visitor: VisitorClaims | None = None

    @property
    def visitor(self) -> VisitorClaims:
        assert self._visitor is not None
        return self._visitor

    async def run(self) -> None:
        visitor = await self._authenticate()
        if visitor is None:
            return
        self._visitor = visitor
        tenant_id_var.set(str(visitor.tenant_id))
        fanout = await self._container.get(LiveFanout)
        clock = await self._container.get(Clock)
        sockets = await self._container.get(OpenSockets)
        topic = VisitorTopic(visitor.tenant_id, visitor.channel_id, visitor.visitor_id)
        if not sockets.enter(topic.key):
            await self._refuse(CLOSE_POLICY_VIOLATION, "too_many_connections", "too many open chats for this visitor")
            return
        try:
            await self._serve(fanout, topic, (visitor.expires_at - clock.now()).total_seconds())
        finally:
            sockets.leave(topic.key)

    async def _serve(self, fanout: LiveFanout, topic: VisitorTopic, lifetime_seconds: float) -> None:
        async with fanout.subscribe(topic) as events:
            loops = [
                asyncio.create_task(self._read_frames()),
                asyncio.create_task(self._pump(events)),
                asyncio.create_task(self._expire(lifetime_seconds)),
            ]
            try:
                done, _ = await asyncio.wait(loops, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if not task.cancelled() and (error := task.exception()) is not None:
                        if not isinstance(error, WebSocketDisconnect):
                            logger.error("web chat connection failed", exc_info=error)
                        with contextlib.suppress(Exception):
                            await self._socket.close(CLOSE_GOING_AWAY)
            finally:
                if self._recheck is not None:
                    self._recheck.cancel()
                for task in loops:
                    task.cancel()
                await asyncio.gather(*loops, return_exceptions=True)

    async def _authenticate(self) -> VisitorClaims | None:
        origin = self._socket.headers.get("origin")
        host = self._socket.headers.get("host", "")
        # The widget's frame is served by the platform itself; another site's page must be allowed.
        foreign = origin if origin and urlsplit(origin).netloc != host else None
        token = self._socket.query_params.get("token") or ""
        try:
            async with self._container() as request:
                use_case = await request.get(OpenVisitorConnection)
                return await use_case.execute(OpenVisitorConnectionInput(token=token, foreign_origin=foreign))
        except InvalidVisitorToken as error:
            await self._refuse(CLOSE_UNAUTHORIZED, error.code, error.message)
        except Forbidden as error:
            await self._refuse(CLOSE_FORBIDDEN, error.code, error.message)
        except ServiceUnavailable as error:
            await self._refuse(CLOSE_TRY_AGAIN_LATER, error.code, error.message)
        return None

    async def _refuse(self, close_code: int, code: str, message: str) -> None:
        await self._send(error_frame(code, message))
        await self._socket.close(close_code, message[:120])

    # --- browser → server ----------------------------------------------------------------------

    async def _read_frames(self) -> None:
        while True:
            event = await self._socket.receive()
            if event["type"] == "websocket.disconnect":
                return
            text, data = event.get("text"), event.get("bytes")
            raw = text if isinstance(text, str) else data if isinstance(data, bytes) else None
            if not self._budget.take():
                if not self._flood_reported:
                    self._flood_reported = True
                    await self._send(error_frame("rate_limited", "too many frames; slow down"))
                if await self._strike():
                    return
                continue
            self._flood_reported = False
            try:
                frame = parse_client_frame(raw)
            except BadFrame as bad:
                await self._send(error_frame(bad.code, bad.message, bad.client_id))
                if await self._strike():
                    return
                continue
            try:
                await self._handle(frame)
            except WebSocketDisconnect:
                raise
            except Exception:
                # A bug or an outage in one frame's handling ends neither the connection nor the server.
                logger.exception("web chat frame failed")
                await self._send(error_frame("internal_error", "something went wrong; try again"))

    async def _handle(self, frame: SendMessage | Typing | Ack) -> None:
        if isinstance(frame, SendMessage):
            await self._on_message(frame)
        elif isinstance(frame, Typing):
            await self._on_typing(frame.on)
        else:
            await self._on_ack(frame.seq)

    async def _strike(self) -> bool:
        """Count one bad frame; True when the connection has been closed for abuse."""
        self._strikes += 1
        if self._strikes < MAX_STRIKES:
            return False
        await self._socket.close(CLOSE_POLICY_VIOLATION, "too many bad frames")
        return True

    async def _on_message(self, frame: SendMessage) -> None:
        try:
            async with self._container() as request:
                use_case = await request.get(ReceiveVisitorMessage)
                await use_case.execute(
                    ReceiveVisitorMessageInput(visitor=self.visitor, client_id=frame.client_id, text=frame.text)
                )
        except InvalidInput as error:
            await self._send(error_frame("invalid_message", error.message, frame.client_id))
            return
        except Forbidden as error:
            await self._refuse(CLOSE_FORBIDDEN, error.code, error.message)
            return
        except ApplicationError as error:
            # Rate limited or the database is away: the widget keeps the message and sends it again.
            await self._send(error_frame(error.code, error.message, frame.client_id))
            return
        # The stored message comes back numbered (the echo confirms it to this tab); a resend of a
        # message stored before gets it again if this tab had not seen it.
        await self._catch_up()

    async def _on_ack(self, seq: int) -> None:
        # The first ack says where a (re)connected widget stands; a later one below what was sent means
        # the widget lost something and wants it again. Above it, the widget merely confirms.
        await self._catch_up(rewind_to=seq)

    async def _on_typing(self, on: bool) -> None:
        try:
            async with self._container() as request:
                use_case = await request.get(ShowVisitorTyping)
                await use_case.execute(ShowVisitorTypingInput(self.visitor, on))
        except ApplicationError as error:
            await self._send(error_frame(error.code, error.message))

    # --- server → browser ----------------------------------------------------------------------

    async def _pump(self, events: AsyncIterator[LiveEvent]) -> None:
        async for event in events:
            if event.kind is LiveEventKind.CHANGED:
                found = await self._catch_up()
                if not found and event.data.get("expect"):
                    self._schedule_recheck()
            elif event.kind is LiveEventKind.DELTA:
                reply_id, text = event.data.get("reply_id"), event.data.get("text")
                if isinstance(reply_id, str) and isinstance(text, str):
                    await self._send({"type": "delta", "replyId": reply_id, "text": text})
            elif event.kind is LiveEventKind.TYPING:
                role = event.data.get("role", "bot")
                # The visitor's own typing is for agents watching, not for the visitor's other tabs.
                if role != "visitor":
                    await self._send({"type": "typing", "on": bool(event.data.get("on")), "role": str(role)})
            elif event.kind is LiveEventKind.HANDOFF:
                await self._catch_up()

    async def _catch_up(self, rewind_to: int | None = None) -> bool:
        """Send every stored message after the cursor (first moved back to `rewind_to` when that is
        lower); True when there was something new. The cursor only changes under the lock."""
        async with self._catch_up_lock:
            if rewind_to is not None:
                if self._cursor is not None and rewind_to >= self._cursor:
                    return False
                self._cursor = rewind_to
            if self._cursor is None:
                return False
            found = False
            while True:
                try:
                    async with self._container() as request:
                        use_case = await request.get(ReadVisitorConversation)
                        update = await use_case.execute(ReadVisitorConversationInput(self.visitor, self._cursor))
                except ServiceUnavailable as error:
                    await self._send(error_frame(error.code, "the conversation cannot be read right now"))
                    self._schedule_recheck()
                    return found
                for message in update.messages:
                    await self._send(message_frame(message))
                found = found or update.last_seq > self._cursor
                self._cursor = update.last_seq
                await self._announce_state(update.state)
                if not update.more:
                    return found

    async def _announce_state(self, state: ConversationState | None) -> None:
        if state is None:
            return
        with_human = state is ConversationState.HUMAN
        was_with_human = self._state is ConversationState.HUMAN
        first = self._state is None
        self._state = state
        if (first and with_human) or (not first and with_human != was_with_human):
            await self._send({"type": "handoff", "state": "joined" if with_human else "left"})

    def _schedule_recheck(self) -> None:
        if self._recheck is None or self._recheck.done():
            self._recheck = asyncio.create_task(self._recheck_later())

    async def _recheck_later(self) -> None:
        for delay in RECHECK_DELAYS:
            await asyncio.sleep(delay)
            with contextlib.suppress(WebSocketDisconnect):
                if await self._catch_up():
                    return

    async def _expire(self, seconds: float) -> None:
        # The widget refreshes its token before this and reconnects with the new one, resuming by seq.
        await asyncio.sleep(max(seconds, 0))
        with contextlib.suppress(Exception):
            await self._send(error_frame("token_expired", "the session token expired; reconnect with a new one"))
        await self._socket.close(CLOSE_UNAUTHORIZED, "token expired")

    async def _send(self, frame: dict[str, Any]) -> None:
        async with self._send_lock:
            await self._socket.send_json(frame)
