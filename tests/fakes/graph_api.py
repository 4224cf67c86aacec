"""An in-process fake of Meta's Graph API (WhatsApp Cloud API + Messenger Send API), for adapter tests.

It runs uvicorn on 127.0.0.1 with a random port inside the test's event loop, so the real send adapters
(httpx pool, retries, backoff, pacing) talk to it as to graph.facebook.com:

    async with FakeGraphApi() as graph:
        graph.script.enqueue("POST", "/v25.0/106540352242922/messages", GraphResponse.error(429, code=130429))
        client = GraphApiClient(graph.base_url, graph.version, pacer=MemorySendPacer())
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
from collections import defaultdict, deque
from typing import Any

import attrs

from tests.fakes.local_server import CannedResponse, LocalHttpServer, RecordedRequest

VERSION = "v25.0"


class GraphResponse(CannedResponse):
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


class FakeGraphApi(LocalHttpServer):
    def __init__(self, *, access_token: str = "EAAG-test-token", page_token: str = "EAAG-page-token") -> None:
        super().__init__()
        self.version = VERSION
        self.access_token = access_token
        self.page_token = page_token
        self.script = Script()
        self.media: dict[str, StoredMedia] = {}
        self.cdn: dict[str, StoredMedia] = {}
        # Media ids whose next download answers 404, as an expired (5 minute) WhatsApp URL does.
        self.expire_next_download: set[str] = set()
        # How long every answer waits: a slow Graph API.
        self.delay_seconds = 0.0
        self._ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        return self.origin

    def add_media(self, media_id: str, data: bytes, mime_type: str) -> None:
        self.media[media_id] = StoredMedia(data, mime_type)

    def add_cdn_file(self, name: str, data: bytes, mime_type: str) -> str:
        self.cdn[name] = StoredMedia(data, mime_type)
        return f"{self.base_url}/cdn/{name}"

    def sent(self) -> list[RecordedRequest]:
        """Successful-or-not send attempts (POSTs to a messages endpoint), in order."""
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/messages")]

    async def respond(self, request: RecordedRequest) -> CannedResponse:
        response = self.script.next_for(request.method, request.path) or self._default(request)
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        return response

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
