"""The tools the assistant may call during a turn: the built-in knowledge search and handoff, and the
tenant's own HTTP tools. A failing tool never fails the turn: what went wrong becomes the tool result,
and the model decides what to tell the user."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import attrs

from application.conversations.prompt import format_passages
from application.knowledge.tools import SEARCH_KNOWLEDGE_BASE_TOOL
from application.ports.knowledge_search import KnowledgePassage, KnowledgeSearch
from application.ports.llm import ToolCall, ToolSpec
from application.ports.security import SecretCipher
from application.ports.tool_invoker import ToolInvoker, ToolRequest
from domain.conversations.citations import Source
from domain.conversations.conversation import Conversation
from domain.tools.tenant_tool import HANDOFF_TO_HUMAN, SEARCH_KNOWLEDGE_BASE, TenantTool

logger = logging.getLogger(__name__)

# The model sees at most this much of one tool's answer.
MAX_TOOL_RESULT_CHARS = 4000

# The knowledge module owns the tool's definition; the engine runs it against KnowledgeSearch so that
# passages keep one number across every search of a turn.
SEARCH_SPEC = ToolSpec(
    name=SEARCH_KNOWLEDGE_BASE_TOOL["function"]["name"],
    description=SEARCH_KNOWLEDGE_BASE_TOOL["function"]["description"],
    parameters=SEARCH_KNOWLEDGE_BASE_TOOL["function"]["parameters"],
)
HANDOFF_SPEC = ToolSpec(
    name=HANDOFF_TO_HUMAN,
    description=(
        "Hand the conversation to a human agent. Call it when the customer asks for a person, is upset, or "
        "needs something you cannot do. You stop answering; a person takes over."
    ),
    parameters={
        "type": "object",
        "properties": {"reason": {"type": "string", "description": "Why a person is needed, in one sentence."}},
        "required": ["reason"],
    },
)


class SourceBook:
    """Numbers every passage shown during one turn, so citations stay unambiguous across searches."""

    def __init__(self) -> None:
        self._by_chunk: dict[str, Source] = {}

    def add(self, passages: Sequence[KnowledgePassage]) -> list[Source]:
        sources = []
        for passage in passages:
            key = passage.chunk_id or f"{passage.document_id}:{passage.text[:64]}"
            source = self._by_chunk.get(key)
            if source is None:
                source = Source(
                    number=len(self._by_chunk) + 1,
                    document_id=passage.document_id,
                    title=passage.title,
                    text=passage.text,
                    chunk_id=passage.chunk_id,
                    url=passage.url,
                    score=passage.score,
                )
                self._by_chunk[key] = source
            sources.append(source)
        return sources

    @property
    def sources(self) -> tuple[Source, ...]:
        return tuple(self._by_chunk.values())


@attrs.frozen
class ToolOutcome:
    content: str
    ok: bool
    arguments: dict[str, Any]
    duration_ms: float
    # Set when the model asked for a person.
    handoff_reason: str | None = None


class TurnToolbox:
    def __init__(
        self,
        *,
        knowledge: KnowledgeSearch,
        searchable: bool,
        search_limit: int,
        tenant_tools: Sequence[TenantTool],
        invoker: ToolInvoker,
        cipher: SecretCipher,
        conversation: Conversation,
        sources: SourceBook,
    ) -> None:
        self._knowledge = knowledge
        self._searchable = searchable
        self._search_limit = search_limit
        self._tenant_tools = {tool.name: tool for tool in tenant_tools if tool.active}
        self._invoker = invoker
        self._cipher = cipher
        self._conversation = conversation
        self._sources = sources

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        builtin = (SEARCH_SPEC, HANDOFF_SPEC) if self._searchable else (HANDOFF_SPEC,)
        own = tuple(
            ToolSpec(name=tool.name, description=tool.description, parameters=tool.parameters)
            for tool in self._tenant_tools.values()
        )
        return builtin + own

    async def run(self, call: ToolCall) -> ToolOutcome:
        started = time.perf_counter()
        try:
            arguments = json.loads(call.arguments or "{}")
        except ValueError:
            return self._outcome(started, {}, f"error: the arguments are not valid JSON: {call.arguments[:200]}")
        if not isinstance(arguments, dict):
            return self._outcome(started, {}, "error: the arguments must be a JSON object")
        if call.name == SEARCH_KNOWLEDGE_BASE and self._searchable:
            return await self._search(started, arguments)
        if call.name == HANDOFF_TO_HUMAN:
            reason = str(arguments.get("reason") or "the assistant asked for a person")[:500]
            return ToolOutcome(
                "The conversation is now with a human agent; do not answer further.",
                True,
                arguments,
                _since(started),
                handoff_reason=reason,
            )
        tool = self._tenant_tools.get(call.name)
        if tool is None:
            return self._outcome(started, arguments, f"error: there is no tool named {call.name!r}")
        return await self._invoke(started, tool, call, arguments)

    async def _search(self, started: float, arguments: dict[str, Any]) -> ToolOutcome:
        query = str(arguments.get("query") or "").strip()
        if not query:
            return self._outcome(started, arguments, "error: 'query' is required")
        try:
            passages = await self._knowledge.search(self._conversation.tenant_id, query, self._search_limit)
        except Exception as error:  # the search backend failing must not end the turn
            logger.warning("knowledge search failed inside a turn", exc_info=True)
            return self._outcome(
                started, arguments, f"error: the knowledge base is unavailable ({type(error).__name__})"
            )
        if not passages:
            return ToolOutcome(
                "No passages in the knowledge base match this query. Do not guess: tell the customer you do not "
                "have that information and offer to connect them with a person.",
                True,
                arguments,
                _since(started),
            )
        return ToolOutcome(format_passages(self._sources.add(passages)), True, arguments, _since(started))

    async def _invoke(self, started: float, tool: TenantTool, call: ToolCall, arguments: dict[str, Any]) -> ToolOutcome:
        secret = self._cipher.decrypt(tool.secret_encrypted, context=tool.id.bytes).decode()
        response = await self._invoker.invoke(
            ToolRequest(
                url=tool.url,
                secret=secret,
                timeout_seconds=tool.timeout_seconds,
                body={
                    "tool": tool.name,
                    "call_id": call.id,
                    "arguments": arguments,
                    "tenant_id": str(self._conversation.tenant_id),
                    "conversation_id": str(self._conversation.id),
                    "channel_id": str(self._conversation.channel_id),
                    "contact_id": self._conversation.contact_id,
                },
            )
        )
        content = response.content if response.ok else f"error: {response.content}"
        return ToolOutcome(_clip(content), response.ok, arguments, _since(started))

    @staticmethod
    def _outcome(started: float, arguments: dict[str, Any], content: str) -> ToolOutcome:
        return ToolOutcome(content, False, arguments, _since(started))


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TOOL_RESULT_CHARS else text[:MAX_TOOL_RESULT_CHARS] + "… (truncated)"
