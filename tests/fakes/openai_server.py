"""An in-process HTTP server speaking the OpenAI wire protocol, for adapter tests.

It runs uvicorn on 127.0.0.1 with a random port inside the test's event loop, so the real `openai` client
(with its HTTP stack, retries off or on, base64 decoding) talks to it exactly as to a remote server.

    async with FakeOpenAIServer() as server:
        server.script.enqueue("/v1/embeddings", ScriptedResponse.error(429, "slow down"))
        client = server.client()
        ...
        assert server.requests_to("/v1/embeddings")[0].json["model"] == "..."

Extending it (e.g. for `/v1/chat/completions`): subclass, override `routes()` to add a handler
`async def handler(request: RecordedRequest) -> ScriptedResponse`, and let tests enqueue what the handler
should answer. Queued responses for a path are always served first, in order, before its default handler.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import numpy as np
import openai

from tests.fakes.local_server import CannedResponse, LocalHttpServer, RecordedRequest

EMBEDDINGS_PATH = "/v1/embeddings"
CHAT_PATH = "/v1/chat/completions"


class ScriptedResponse(CannedResponse):
    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ) -> ScriptedResponse:
        """An error in OpenAI's envelope, which the client turns into e.g. RateLimitError for 429."""
        envelope = {"error": {"message": message, "type": error_type, "param": None, "code": None}}
        return cls.of_json(envelope, status, headers)


class Script:
    """Responses the server must give next, per path, before it falls back to its default behaviour."""

    def __init__(self) -> None:
        self._queued: defaultdict[str, deque[ScriptedResponse]] = defaultdict(deque)

    def enqueue(self, path: str, *responses: ScriptedResponse) -> None:
        self._queued[path].extend(responses)

    def next_for(self, path: str) -> ScriptedResponse | None:
        queue = self._queued[path]
        return queue.popleft() if queue else None

    def pending(self, path: str) -> int:
        return len(self._queued[path])


Handler = Callable[[RecordedRequest], Awaitable[ScriptedResponse]]


def fake_embedding(text: str, dimension: int) -> list[float]:
    """Deterministic per text and deliberately not unit-length, so tests can see the adapter normalise."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dimension).astype(np.float32) * 3.0
    return [float(value) for value in vector]


@attrs.frozen
class ScriptedCall:
    name: str
    arguments: dict[str, Any]


@attrs.frozen
class ScriptedTurn:
    """What the fake model answers to one chat completion request."""

    text: str = ""
    tool_calls: tuple[ScriptedCall, ...] = ()
    # Wait this long before answering (a slow model); `hang` waits until release_hung() or shutdown.
    delay_seconds: float = 0.0
    hang: bool = False

    @classmethod
    def call(cls, name: str, **arguments: Any) -> ScriptedTurn:
        return cls(tool_calls=(ScriptedCall(name, arguments),))


class ChatScript:
    """Turns the fake model takes next, in order; with none queued it follows a fixed policy: search the
    knowledge base for the user's words once, then answer citing passage [1] (zero latency, for load)."""

    def __init__(self) -> None:
        self.queued: deque[ScriptedTurn] = deque()
        self.hung = asyncio.Event()

    def enqueue(self, *turns: ScriptedTurn) -> None:
        self.queued.extend(turns)

    def next_turn(self, payload: dict[str, Any]) -> ScriptedTurn:
        if self.queued:
            return self.queued.popleft()
        messages = payload.get("messages", [])
        last = messages[-1] if messages else {}
        offered = {tool["function"]["name"] for tool in payload.get("tools", [])}
        if last.get("role") == "user" and "search_knowledge_base" in offered and payload.get("tool_choice") != "none":
            return ScriptedTurn.call("search_knowledge_base", query=str(last.get("content", ""))[:200])
        if last.get("role") == "tool":
            first_line = str(last.get("content", "")).split("\n\n")[0]
            return ScriptedTurn(text=f"From our documents: {first_line[:300]} [1]")
        return ScriptedTurn(text=f"You said: {last.get('content', '')}")


class FakeOpenAIServer(LocalHttpServer):
    def __init__(self, embedding_dimension: int = 1536) -> None:
        super().__init__()
        self.embedding_dimension = embedding_dimension
        self.chat = ChatScript()
        self.script = Script()

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {("POST", EMBEDDINGS_PATH): self._embeddings, ("POST", CHAT_PATH): self._chat_completions}

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def client(self, **options: Any) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.base_url, api_key="test-key", **options)

    def release_hung(self) -> None:
        """Let every request held by a `hang` turn answer."""
        self.chat.hung.set()

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path]

    async def respond(self, request: RecordedRequest) -> CannedResponse:
        response = self.script.next_for(request.path)
        if response is None:
            handler = self.routes().get((request.method, request.path))
            if handler is None:
                response = ScriptedResponse.error(404, f"no route {request.method} {request.path}")
            else:
                response = await handler(request)
        return response

    async def _embeddings(self, request: RecordedRequest) -> ScriptedResponse:
        payload = request.json
        inputs = payload["input"]
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        dimension = payload.get("dimensions", self.embedding_dimension)
        # The real API answers base64 (packed little-endian float32) unless "float" is asked for, and the
        # openai client asks for base64 whenever the caller does not name a format.
        encoding = payload.get("encoding_format", "float")
        data = []
        for index, text in enumerate(texts):
            vector = fake_embedding(text, dimension)
            encoded: list[float] | str = (
                base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode() if encoding == "base64" else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(text.split()) for text in texts)
        return ScriptedResponse.of_json(
            {
                "object": "list",
                "data": data,
                "model": payload["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _chat_completions(self, request: RecordedRequest) -> ScriptedResponse:
        """Chat completions as OpenAI answers them: one JSON body, or server-sent events when `stream` is
        set (text in several deltas; each tool call named first, then its arguments in pieces)."""
        payload = request.json
        turn = self.chat.next_turn(payload)
        if turn.hang:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.chat.hung.wait(), timeout=120)
        if turn.delay_seconds:
            await asyncio.sleep(turn.delay_seconds)
        model = payload.get("model", "fake-model")
        calls = [
            {
                "id": f"call_{index}_{hashlib.sha256(call.name.encode()).hexdigest()[:6]}",
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for index, call in enumerate(turn.tool_calls)
        ]
        finish = "tool_calls" if calls else "stop"
        if payload.get("stream"):
            return _sse(_chat_chunks(model, turn.text, calls, finish))
        message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
        if calls:
            message["tool_calls"] = calls
        prompt_tokens = sum(len(str(item.get("content") or "").split()) for item in payload.get("messages", []))
        completion_tokens = len(turn.text.split())
        return ScriptedResponse.of_json(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )


def _chat_chunks(model: str, text: str, calls: list[dict[str, Any]], finish: str) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    chunks = [chunk({"role": "assistant", "content": ""})]
    words = text.split(" ")
    chunks += [chunk({"content": word if index == 0 else " " + word}) for index, word in enumerate(words) if text]
    for index, call in enumerate(calls):
        arguments = call["function"]["arguments"]
        middle = len(arguments) // 2
        chunks.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        for piece in (arguments[:middle], arguments[middle:]):
            chunks.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    chunks.append(chunk({}, finish))
    return chunks


def _sse(chunks: list[dict[str, Any]]) -> ScriptedResponse:
    body = "".join(f"data: {json.dumps(item)}\n\n" for item in chunks) + "data: [DONE]\n\n"
    return ScriptedResponse(200, body.encode(), {"content-type": "text/event-stream"})
