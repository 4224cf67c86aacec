"""A local HTTP endpoint standing in for a tenant's webhook receiver: it answers each request with the
next scripted status (then 200) and records what arrived, with arrival times."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs


@attrs.define
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@attrs.define
class WebhookReceiver:
    port: int = 0
    # path → statuses to answer with, in order; once used up every request gets 200.
    scripts: dict[str, list[int]] = attrs.field(factory=dict)
    requests: list[ReceivedRequest] = attrs.field(factory=list)
    retry_after: str | None = None
    answer: bytes = b"ok"
    _arrived: asyncio.Condition = attrs.field(factory=asyncio.Condition)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self, path: str) -> list[ReceivedRequest]:
        return [request for request in self.requests if request.path == path]

    async def wait_for(self, path: str, count: int, within: float = 10.0) -> list[ReceivedRequest]:
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received(path)) >= count)
        return self.received(path)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                path = request_line.split(" ")[1]
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in header_lines if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                script = self.scripts.get(path, [])
                status = script.pop(0) if script else 200
                async with self._arrived:
                    self.requests.append(ReceivedRequest(path, headers, body, time.monotonic()))
                    self._arrived.notify_all()
                extra = f"Retry-After: {self.retry_after}\r\n" if self.retry_after and status >= 400 else ""
                head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(self.answer)}\r\n{extra}Content-Type: text/plain"
                writer.write(head.encode() + b"\r\n\r\n" + self.answer)
                await writer.drain()
        writer.close()


@asynccontextmanager
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await server.wait_closed()
