"""An in-process fake of Meta's Graph API (WhatsApp Cloud API + Messenger Send API), for adapter tests.

It runs uvicorn on 127.0.0.1 with a random port inside the test's event loop, so the real send adapters
(httpx pool, retries, backoff, pacing) talk to it as to graph.facebook.com:

    async with FakeGraphApi() as graph:
        graph.script.enqueue("POST", "/v25.0/106540352242922/messages", GraphResponse.error(429, code=130429))
        client = GraphApiClient(graph.base_url, graph.version)
        ...
        assert graph.sent()[0].json["text"]["body"] == "hello"

It records every request, answers sends like Meta does (`wamid…` / `m_…` ids), serves WhatsApp media
(lookup by id → URL that needs the bearer token) and Messenger CDN files (no token), and answers
scripted responses first, in order, per (method, path).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import socket
from collections import defaultdict, deque
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs

import attrs
import uvicorn

VERSION = "v25.0"


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
class GraphResponse:
    status: int
    body: bytes
    headers: dict[str, str] = attrs.field(factory=dict)

    @classmethod
    def of_json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> GraphResponse:
        return cls(status, json.dumps(payload).encode(), {"content-type": "application/json", **(headers or {})})

    @classmethod
    def error(
        cls,
        status: int,
        *,
        code: int,
        message: str = "error",
        subcode: int | None = None,
        details: str = "",
        headers: dict[str, str] | None = None,
    ) -> GraphResponse:
        """Meta's error envelope; `code` is what adapters classify on."""
        error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Afake"}
        if subcode is not None:
            error["error_subcode"] = subcode
        if details:
            error["error_data"] = {"messaging_product": "whatsapp", "details": details}
        return cls.of_json({"error": error}, status, headers)


@attrs.frozen
class StoredMedia:
    data: bytes
    mime_type: str


class Script:
    def __init__(self) -> None:
        self._queued: defaultdict[tuple[str, str], deque[GraphResponse]] = defaultdict(deque)

    def enqueue(self, method: str, path: str, *responses: GraphResponse) -> None:
        self._queued[(method, path)].extend(responses)

    def next_for(self, method: str, path: str) -> GraphResponse | None:
        queue = self._queued[(method, path)]
        return queue.popleft() if queue else None


class FakeGraphApi:
    def __init__(self, *, access_token: str = "EAAG-test-token", page_token: str = "EAAG-page-token") -> None:
        self.version = VERSION
        self.access_token = access_token
        self.page_token = page_token
        self.script = Script()
        self.requests: list[RecordedRequest] = []
        self.media: dict[str, StoredMedia] = {}
        self.cdn: dict[str, StoredMedia] = {}
        # Media ids whose next download answers 404, as an expired (5 minute) WhatsApp URL does.
        self.expire_next_download: set[str] = set()
        # How long every answer waits: a slow Graph API.
        self.delay_seconds = 0.0
        self._ids = itertools.count(1)
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self._port: int | None = None

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("the server is not running")
        return f"http://127.0.0.1:{self._port}"

    def add_media(self, media_id: str, data: bytes, mime_type: str) -> None:
        self.media[media_id] = StoredMedia(data, mime_type)

    def add_cdn_file(self, name: str, data: bytes, mime_type: str) -> str:
        self.cdn[name] = StoredMedia(data, mime_type)
        return f"{self.base_url}/cdn/{name}"

    def sent(self) -> list[RecordedRequest]:
        """Successful-or-not send attempts (POSTs to a messages endpoint), in order."""
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/messages")]

    async def __aenter__(self) -> Self:
        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without
        # it every keep-alive answer waited ~40 ms for the client's delayed ACK (Nagle).
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        self._port = listener.getsockname()[1]
        config = uvicorn.Config(self._asgi, interface="asgi3", lifespan="off", log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._serving = asyncio.create_task(self._server.serve(sockets=[listener]))
        while not self._server.started:
            if self._serving.done():
                self._serving.result()
            await asyncio.sleep(0.005)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        assert self._serving is not None
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
        response = self.script.next_for(request.method, request.path) or self._default(request)
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        headers = [(name.encode(), value.encode()) for name, value in response.headers.items()]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    def _default(self, request: RecordedRequest) -> GraphResponse:
        parts = request.path.strip("/").split("/")
        if parts[0] == "cdn" and len(parts) == 2 and parts[1] in self.cdn:
            return _file(self.cdn[parts[1]])
        if parts[0] == "media" and len(parts) == 2:
            return self._download(request, parts[1])
        if parts[0] != self.version or len(parts) < 2:
            return GraphResponse.error(404, code=100, message="unknown path")
        if request.method == "POST" and parts[-1] == "messages":
            if parts[1] == "me" or "access_token" in request.query:
                return self._messenger_send(request)
            return self._whatsapp_send(request)
        if request.method == "GET" and len(parts) == 2:
            return self._media_lookup(request, parts[1])
        return GraphResponse.error(404, code=100, message="unknown path")

    def _authorised(self, request: RecordedRequest) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.access_token}"

    def _whatsapp_send(self, request: RecordedRequest) -> GraphResponse:
        if not self._authorised(request):
            return GraphResponse.error(401, code=190, message="Invalid OAuth access token")
        payload = request.json
        if payload.get("status") == "read":
            return GraphResponse.of_json({"success": True})
        to = str(payload.get("to", ""))
        return GraphResponse.of_json(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                "messages": [{"id": f"wamid.FAKE{next(self._ids)}"}],
            }
        )

    def _messenger_send(self, request: RecordedRequest) -> GraphResponse:
        if request.query.get("access_token") != self.page_token:
            return GraphResponse.error(400, code=190, message="Invalid OAuth access token")
        payload = request.json
        recipient = payload.get("recipient", {}).get("id", "")
        if "sender_action" in payload:
            return GraphResponse.of_json({"recipient_id": recipient})
        return GraphResponse.of_json({"recipient_id": recipient, "message_id": f"m_FAKE{next(self._ids)}"})

    def _media_lookup(self, request: RecordedRequest, media_id: str) -> GraphResponse:
        if not self._authorised(request):
            return GraphResponse.error(401, code=190, message="Invalid OAuth access token")
        stored = self.media.get(media_id)
        if stored is None:
            return GraphResponse.error(400, code=100, message="Unsupported get request")
        return GraphResponse.of_json(
            {
                "messaging_product": "whatsapp",
                "url": f"{self.base_url}/media/{media_id}",
                "mime_type": stored.mime_type,
                "sha256": hashlib.sha256(stored.data).hexdigest(),
                "file_size": len(stored.data),
                "id": media_id,
            }
        )

    def _download(self, request: RecordedRequest, media_id: str) -> GraphResponse:
        if not self._authorised(request):
            return GraphResponse(401, b"unauthorised")
        if media_id in self.expire_next_download:
            self.expire_next_download.discard(media_id)
            return GraphResponse(404, b"expired")
        stored = self.media.get(media_id)
        return GraphResponse(404, b"not found") if stored is None else _file(stored)


def _file(stored: StoredMedia) -> GraphResponse:
    return GraphResponse(200, stored.data, {"content-type": stored.mime_type, "content-length": str(len(stored.data))})
