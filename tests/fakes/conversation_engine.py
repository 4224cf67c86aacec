"""Small hand-written fakes of the ports the conversation engine talks to (no mocks)."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable

import attrs

from application.ports.channel_gateway import (
    ChannelSendError,
    InteractiveMessage,
    OutboundMedia,
    SendFailure,
    TemplateMessage,
)
from application.ports.knowledge_search import KnowledgePassage
from application.ports.llm import ChatCompletion, ChatModelUnavailable, ChatRequest, DeltaSink, ToolCall
from application.ports.tool_invoker import ToolRequest, ToolResponse
from domain.channels.channel import Channel, ChannelKind
from domain.common.ids import ConversationId, TenantId


@attrs.frozen
class Sent:
    kind: str  # "text", "template", "typing"
    channel_kind: ChannelKind
    to: str
    text: str = ""
    template: str = ""


class FakeGateway:
    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.failures: deque[ChannelSendError] = deque()
        self._ids = 0

    def texts(self) -> list[str]:
        return [item.text for item in self.sent if item.kind == "text"]

    def max_text_length(self, kind: ChannelKind) -> int:
        return 4096

    def carries(self, kind: ChannelKind, content_kind: str) -> bool:
        return True

    def _next_id(self) -> str:
        if self.failures:
            raise self.failures.popleft()
        self._ids += 1
        return f"wamid.fake{self._ids}"

    async def send_text(self, channel: Channel, to: str, text: str, reply_to: str | None = None) -> list[str]:
        provider_id = self._next_id()
        self.sent.append(Sent("text", channel.kind, to, text=text))
        return [provider_id]

    async def send_media(self, channel: Channel, to: str, media: OutboundMedia, reply_to: str | None = None) -> str:
        raise ChannelSendError(SendFailure.UNSUPPORTED, code="unsupported", title="not in this fake")

    def check_interactive(self, kind: ChannelKind, message: InteractiveMessage) -> None:
        return None

    async def send_interactive(
        self, channel: Channel, to: str, message: InteractiveMessage, reply_to: str | None = None
    ) -> str:
        raise ChannelSendError(SendFailure.UNSUPPORTED, code="unsupported", title="not in this fake")

    async def send_template(self, channel: Channel, to: str, template: TemplateMessage) -> str:
        provider_id = self._next_id()
        self.sent.append(Sent("template", channel.kind, to, template=template.name))
        return provider_id

    async def send_reaction(self, channel: Channel, to: str, message_id: str, emoji: str) -> str:
        raise ChannelSendError(SendFailure.UNSUPPORTED, code="unsupported", title="not in this fake")

    async def mark_read(self, channel: Channel, to: str, message_id: str) -> None:
        return None

    async def typing(self, channel: Channel, to: str, on: bool, message_id: str | None = None) -> None:
        self.sent.append(Sent("typing", channel.kind, to))


class ScriptedChatModel:
    """Answers with queued completions (then with `default`); `before_answer` runs inside a completion,
    to stage what happens in the world while the model is thinking."""

    def __init__(self, *completions: ChatCompletion | Exception, uses_language_model: bool = True) -> None:
        self.queued: deque[ChatCompletion | Exception] = deque(completions)
        self.requests: list[ChatRequest] = []
        self.default = ChatCompletion(text="Default answer.", model="scripted")
        self.before_answer: Callable[[], Awaitable[None]] | None = None
        self._uses_language_model = uses_language_model

    @property
    def name(self) -> str:
        return "scripted"

    @property
    def context_tokens(self) -> int:
        return 8000

    @property
    def uses_language_model(self) -> bool:
        return self._uses_language_model

    async def complete(self, request: ChatRequest, on_delta: DeltaSink | None = None) -> ChatCompletion:
        self.requests.append(request)
        if self.before_answer is not None:
            hook, self.before_answer = self.before_answer, None
            await hook()
        answer = self.queued.popleft() if self.queued else self.default
        if isinstance(answer, Exception):
            raise answer
        if on_delta is not None and answer.text:
            for word in answer.text.split(" "):
                await on_delta(word + " ")
        return answer


def calls(name: str, arguments: str, call_id: str = "call_1") -> ChatCompletion:
    return ChatCompletion(text="", tool_calls=(ToolCall(id=call_id, name=name, arguments=arguments),), model="scripted")


def unavailable() -> ChatModelUnavailable:
    return ChatModelUnavailable("scripted outage")


class FakeKnowledge:
    def __init__(self, *passages: KnowledgePassage) -> None:
        self.passages = list(passages)
        self.queries: list[str] = []

    async def search(self, tenant_id: TenantId, query: str, limit: int) -> list[KnowledgePassage]:
        self.queries.append(query)
        return self.passages[:limit]


class FakeInvoker:
    def __init__(self, response: ToolResponse | None = None) -> None:
        self.response = response or ToolResponse(ok=True, content='{"status": "shipped"}', status=200)
        self.requests: list[ToolRequest] = []

    async def invoke(self, request: ToolRequest) -> ToolResponse:
        self.requests.append(request)
        return self.response


class RecordingReplyStream:
    def __init__(self) -> None:
        self.deltas: list[tuple[str, str]] = []
        self.typing_shown: list[ConversationId] = []

    def streams(self, channel: Channel) -> bool:
        return channel.kind is ChannelKind.WEBCHAT

    async def typing(self, channel: Channel, conversation_id: ConversationId, on: bool) -> None:
        self.typing_shown.append(conversation_id)

    async def delta(self, channel: Channel, conversation_id: ConversationId, reply_id: str, text: str) -> None:
        self.deltas.append((reply_id, text))
