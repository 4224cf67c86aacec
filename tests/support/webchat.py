"""Web chat test helpers: a real uvicorn server in the test's loop (WebSockets need one), a widget
client speaking the protocol, and a scripted assistant that answers the way the conversation engine
does (stream deltas, store the reply, send it through the channel gateway)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from dishka import AsyncContainer
from litestar import Litestar
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from application.channels.channel_registry import ChannelRegistry
from application.ports.reply_stream import ReplyStream
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import ChannelId, ConversationId, MessageId, TenantId, new_id
from domain.conversations.message import DeliveryStatus, Direction, Message, MessageType, SenderRole
from tests.support.api import create_channel, create_tenant

SITE = "https://shop.example"
# Matches the production server's limit (entrypoints/cli/main.py): bigger frames are refused by uvicorn.
WS_MAX_SIZE = 64 * 1024


@asynccontextmanager
async def serve(app: Litestar) -> AsyncIterator[str]:
    """Run the app on a free port; yields its base URL (http://127.0.0.1:PORT). Lifespan hooks are left to
    the caller (the `client` fixture runs them)."""
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=0, lifespan="off", log_config=None, access_log=False, ws_max_size=WS_MAX_SIZE
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def create_widget(client: httpx.AsyncClient, **config: Any) -> dict[str, Any]:
    """A tenant with a web chat channel allowed on SITE; returns {"tenant_id", "channel_id", "widget_id"}."""
    tenant = await create_tenant(client, name=f"Web chat {uuid.uuid4().hex[:6]}")
    config.setdefault("allowed_origins", [SITE])
    channel = await create_channel(client, tenant["id"], kind="webchat", name="Website", config=config)
    return {"tenant_id": tenant["id"], "channel_id": channel["id"], "widget_id": channel["config"]["widget_id"]}


async def start_session(
    client: httpx.AsyncClient, widget_id: str, visitor_id: str | None = None, origin: str = SITE
) -> dict[str, Any]:
    body: dict[str, Any] = {"widgetId": widget_id}
    if visitor_id is not None:
        body["visitorId"] = visitor_id
    response = await client.post("/api/webchat/sessions", json=body, headers={"Origin": origin})
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()
    return session


class WidgetSocket:
    """One browser tab's connection."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.connection.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def say(self, text: str, client_id: str | None = None) -> str:
        client_id = client_id or uuid.uuid4().hex
        await self.send({"type": "message", "id": client_id, "text": text})
        return client_id

    async def ack(self, seq: int) -> None:
        await self.send({"type": "ack", "seq": seq})

    async def receive(self, within: float = 5.0) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.connection.recv(), within))
        return frame

    async def receive_until(self, frame_type: str, within: float = 5.0, **fields: Any) -> list[dict[str, Any]]:
        """Frames up to and including the first of `frame_type` whose fields match."""
        seen = []
        async with asyncio.timeout(within):
            while True:
                frame = await self.receive(within)
                seen.append(frame)
                if frame["type"] == frame_type and all(frame.get(key) == value for key, value in fields.items()):
                    return seen

    async def messages(self, count: int, within: float = 5.0) -> list[dict[str, Any]]:
        """The next `count` message frames, skipping typing/delta frames."""
        found: list[dict[str, Any]] = []
        async with asyncio.timeout(within):
            while len(found) < count:
                frame = await self.receive(within)
                if frame["type"] == "message":
                    found.append(frame)
        return found

    async def silent_for(self, seconds: float) -> list[dict[str, Any]]:
        """Frames that arrive within `seconds` (expected to be none of consequence)."""
        frames = []
        try:
            async with asyncio.timeout(seconds):
                while True:
                    frames.append(await self.receive(seconds))
        except TimeoutError:
            pass
        return frames

    async def closed_with(self, within: float = 5.0) -> int | None:
        """Read until the server closes; the close code."""
        _, code = await self.frames_until_closed(within)
        return code

    async def frames_until_closed(self, within: float = 5.0) -> tuple[list[dict[str, Any]], int | None]:
        frames = []
        async with asyncio.timeout(within):
            try:
                async for raw in self.connection:
                    frames.append(json.loads(raw))
            except ConnectionClosed:
                pass
        return frames, self.connection.close_code


@asynccontextmanager
async def widget_socket(
    base_url: str, token: str, *, origin: str | None = None, last_seq: int | None = 0
) -> AsyncIterator[WidgetSocket]:
    """Open /ws/webchat like the widget's frame; `last_seq` is acknowledged right away (None: not at all)."""
    headers = {"Origin": origin} if origin else {}
    url = base_url.replace("http://", "ws://") + f"/ws/webchat?token={token}"
    async with connect(url, additional_headers=headers, max_size=None, open_timeout=5) as connection:
        socket = WidgetSocket(connection)
        if last_seq is not None:
            await socket.ack(last_seq)
        yield socket


class ScriptedAssistant:
    """Answers like the conversation engine: typing, streamed pieces under the reply's id, the reply
    stored (numbered by the database), then sent through the channel gateway."""

    def __init__(self, container: AsyncContainer) -> None:
        self._container = container

    async def answer(
        self,
        tenant_id: str,
        conversation_id: str,
        pieces: list[str],
        citations: list[dict[str, Any]] | None = None,
        sender: SenderRole = SenderRole.BOT,
    ) -> str:
        uow_factory = await self._container.get(UnitOfWorkFactory)
        stream = await self._container.get(ReplyStream)
        gateway = await self._container.get(ChannelRegistry)
        tenant = TenantId(uuid.UUID(tenant_id))
        conversation_key = ConversationId(uuid.UUID(conversation_id))
        async with uow_factory(tenant) as uow:
            conversation = await uow.conversations.get(tenant, conversation_key)
            assert conversation is not None
            channel = await uow.channels.get(tenant, conversation.channel_id)
            assert channel is not None
        reply_id = MessageId(new_id())
        await stream.typing(channel, conversation.id, True)
        for piece in pieces:
            await stream.delta(channel, conversation.id, str(reply_id), piece)
        text = "".join(pieces)
        async with uow_factory(tenant) as uow:
            await uow.messages.add(
                Message(
                    id=reply_id,
                    tenant_id=tenant,
                    conversation_id=conversation.id,
                    channel_id=ChannelId(channel.id),
                    direction=Direction.OUTBOUND,
                    sender=sender,
                    type=MessageType.TEXT,
                    text=text,
                    content={"citations": citations or []},
                    status=DeliveryStatus.PENDING,
                )
            )
            await uow.commit()
        await gateway.send_text(channel, conversation.contact_id, text)
        await stream.typing(channel, conversation.id, False)
        return str(reply_id)
