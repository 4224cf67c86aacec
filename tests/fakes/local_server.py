"""What the fake remote services (Graph API, OpenAI) share: a real HTTP server on a random loopback port,
run by uvicorn inside the test's event loop, that records every request and answers what its subclass
decides in `respond`."""

from __future__ import annotations

import asyncio
import json
import socket
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs

import attrs
import uvicorn


@attrs.frozen
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@attrs.frozen
class CannedResponse:
    status: int
    body: bytes
    headers: dict[str, str] = attrs.field(factory=dict)

    @classmethod
    def of_json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Self:
        return cls(status, json.dumps(payload).encode(), {"content-type": "application/json", **(headers or {})})


class LocalHttpServer:
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self._port: int | None = None

    @property
    def origin(self) -> str:
        if self._port is None:
            raise RuntimeError("the server is not running")
        return f"http://127.0.0.1:{self._port}"

    async def respond(self, request: RecordedRequest) -> CannedResponse:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without
        # it every keep-alive answer waited ~40 ms for the client's delayed ACK (Nagle).
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        self._port = listener.getsockname()[1]
        config = uvicorn.Config(
            self._asgi,
            interface="asgi3",
            lifespan="off",
            log_level="warning",
            access_log=False,
            # Tests leave slow or hung answers behind on purpose: stopping must not wait for them.
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._serving = asyncio.create_task(self._server.serve(sockets=[listener]))
        while not self._server.started:
            if self._serving.done():
                self._serving.result()  # surfaces the startup error
            await asyncio.sleep(0.005)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is None or self._serving is None:
            raise RuntimeError("the server was not started")
        self._server.should_exit = True
        await self._serving
        self._port = None

    async def _asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        request = RecordedRequest(
            method=scope["method"],
            path=scope["path"],
            query={key: values[0] for key, values in parse_qs(scope["query_string"].decode()).items()},
            headers={name.decode().lower(): value.decode() for name, value in scope["headers"]},
            body=body,
        )
        self.requests.append(request)
        response = await self.respond(request)
        headers = [(name.encode(), value.encode()) for name, value in response.headers.items()]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
