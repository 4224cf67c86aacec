"""Port for the language model that writes the assistant's answers, with function calling."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any, Protocol

import attrs

from domain.conversations.citations import Source


class ChatRole(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


@attrs.frozen
class ToolCall:
    id: str
    name: str
    # JSON text exactly as the model wrote it; it may be malformed, which the engine reports back.
    arguments: str


@attrs.frozen
class ChatMessage:
    role: ChatRole
    content: str = ""
    # Assistant messages that call tools.
    tool_calls: tuple[ToolCall, ...] = ()
    # Tool results answer one call.
    tool_call_id: str | None = None


@attrs.frozen
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]


@attrs.frozen
class ChatRequest:
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    # False on the last allowed iteration: the model must answer in words now.
    allow_tools: bool = True
    max_output_tokens: int = 800
    # The numbered passages the messages show, for answerers that work from them directly.
    sources: tuple[Source, ...] = ()
    language: str = "en"


@attrs.frozen
class ChatCompletion:
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    model: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class ChatModelUnavailable(Exception):
    """The model could not answer (timeouts, 429/5xx after the adapter's retries, refused request)."""


# Receives each streamed piece of the answer text as it arrives.
DeltaSink = Callable[[str], Awaitable[None]]


class ChatModel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def context_tokens(self) -> int:
        """How many tokens of prompt (system, passages, history, tools) the engine may send."""
        ...

    @property
    def uses_language_model(self) -> bool:
        """False for the extractive answerer, which only quotes the passages it is given."""
        ...

    async def complete(self, request: ChatRequest, on_delta: DeltaSink | None = None) -> ChatCompletion:
        """One completion; with `on_delta` the answer is streamed into it piece by piece and the
        complete result (text and tool calls) is still returned. Raises ChatModelUnavailable."""
        ...
