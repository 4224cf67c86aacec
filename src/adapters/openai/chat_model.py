"""Chat completions over the OpenAI protocol (OpenAI itself, or Ollama/vLLM/llama.cpp servers via base_url),
with function calling and streaming."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import attrs
import openai

from adapters.openai.retries import is_transient, retry_delay
from application.ports.llm import (
    ChatCompletion,
    ChatMessage,
    ChatModelUnavailable,
    ChatRequest,
    ChatRole,
    DeltaSink,
    ToolCall,
)
from domain.common.text import json_text_without_nul, without_nul

logger = logging.getLogger(__name__)

# Relative to the client's base URL, as the client's own `chat.completions.create` posts it.
_CHAT_COMPLETIONS_PATH = "/chat/completions"


@attrs.frozen
class ChatModelSettings:
    model: str = "gpt-4o"
    context_tokens: int = 16_000
    timeout_seconds: float = 60.0
    max_attempts: int = 4
    retry_base_delay: float = 0.5
    retry_max_delay: float = 8.0


class OpenAIChatModel:
    """Retries live here (the client runs with max_retries=0): 429, 408, 409, 5xx, timeouts and connection
    errors are retried with exponential backoff and full jitter, or after the server's Retry-After.
    A streamed answer is retried only while nothing of it has been forwarded yet — a reader must never
    see the same words twice."""

    def __init__(self, client: openai.AsyncOpenAI, settings: ChatModelSettings | None = None) -> None:
        self._settings = settings or ChatModelSettings()
        self._client = client.with_options(max_retries=0, timeout=self._settings.timeout_seconds)

    @property
    def name(self) -> str:
        return self._settings.model

    @property
    def context_tokens(self) -> int:
        return self._settings.context_tokens

    @property
    def uses_language_model(self) -> bool:
        return True

    async def complete(self, request: ChatRequest, on_delta: DeltaSink | None = None) -> ChatCompletion:
        attempts = self._settings.max_attempts
        for attempt in range(1, attempts + 1):
            forwarded = _Forwarded(on_delta)
            try:
                if on_delta is None:
                    return await self._complete(request)
                return await self._stream(request, forwarded)
            except (openai.APIConnectionError, openai.APIStatusError) as error:
                if not is_transient(error) or forwarded.any or attempt == attempts:
                    raise ChatModelUnavailable(f"{self.name}: {type(error).__name__}: {error}") from error
                delay = self._retry_delay(attempt, error)
                logger.warning(
                    "chat completion failed, retrying",
                    extra={"model": self.name, "attempt": attempt, "delay": round(delay, 2), "error": str(error)},
                )
                await asyncio.sleep(delay)
            except openai.OpenAIError as error:
                raise ChatModelUnavailable(f"{self.name}: {type(error).__name__}: {error}") from error
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _complete(self, request: ChatRequest) -> ChatCompletion:
        # The client's own request path (base URL, auth, timeout, status errors), without its typed
        # `create`: that walks every argument through its TypedDict transform and builds a model object per
        # piece of the answer, most of the client's CPU per call; the arguments are plain JSON already, and
        # the answer is read from its JSON here.
        response: object = await self._client.post(
            _CHAT_COMPLETIONS_PATH, body=self._arguments(request), cast_to=object
        )
        try:
            return self._completion(response)
        except (KeyError, IndexError, TypeError, AttributeError) as error:
            raise ChatModelUnavailable(f"{self.name} returned a malformed completion: {error!r}") from error

    def _completion(self, response: Any) -> ChatCompletion:
        if not response["choices"]:
            raise ChatModelUnavailable(f"{self.name} returned no choices")
        message = response["choices"][0]["message"]
        calls = tuple(
            ToolCall(
                id=call["id"],
                name=call["function"]["name"],
                arguments=json_text_without_nul(call["function"].get("arguments") or ""),
            )
            for call in message.get("tool_calls") or []
            if call.get("type") == "function"
        )
        usage = response.get("usage")
        return ChatCompletion(
            text=without_nul(message.get("content") or ""),
            tool_calls=calls,
            model=response.get("model") or self.name,
            prompt_tokens=usage.get("prompt_tokens") if usage else None,
            completion_tokens=usage.get("completion_tokens") if usage else None,
        )

    async def _stream(self, request: ChatRequest, forwarded: _Forwarded) -> ChatCompletion:
        stream = await self._client.chat.completions.create(**self._arguments(request), stream=True)
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        model = self.name
        async for chunk in stream:
            model = chunk.model or model
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            piece_text = without_nul(delta.content or "")
            if piece_text:
                text.append(piece_text)
                await forwarded.send(piece_text)
            # Tool calls arrive in pieces: the first names the call, later ones extend its arguments.
            for piece in delta.tool_calls or []:
                call = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                if piece.id:
                    call["id"] = piece.id
                if piece.function is not None:
                    call["name"] += piece.function.name or ""
                    call["arguments"] += piece.function.arguments or ""
        return ChatCompletion(
            text="".join(text),
            tool_calls=tuple(
                ToolCall(
                    id=call["id"] or f"call_{index}",
                    name=call["name"],
                    arguments=json_text_without_nul(call["arguments"]),
                )
                for index, call in sorted(calls.items())
            ),
            model=model,
        )

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": self._settings.model,
            "messages": [_message(message) for message in request.messages],
            "max_tokens": request.max_output_tokens,
        }
        if request.tools:
            arguments["tools"] = [
                {
                    "type": "function",
                    "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
                }
                for tool in request.tools
            ]
            arguments["tool_choice"] = "auto" if request.allow_tools else "none"
        return arguments

    def _retry_delay(self, attempt: int, error: openai.APIError) -> float:
        return retry_delay(
            error, attempt, base_delay=self._settings.retry_base_delay, max_delay=self._settings.retry_max_delay
        )


class _Forwarded:
    """Passes streamed text on and remembers whether any went out (which rules out a retry)."""

    def __init__(self, sink: DeltaSink | None) -> None:
        self._sink = sink
        self.any = False

    async def send(self, text: str) -> None:
        if self._sink is not None:
            self.any = True
            await self._sink(text)


def _message(message: ChatMessage) -> dict[str, Any]:
    if message.role is ChatRole.TOOL:
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.role is ChatRole.ASSISTANT and message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [
                {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
                for call in message.tool_calls
            ],
        }
    return {"role": str(message.role), "content": message.content}
