"""What the language model is shown for one turn, within its token budget: a system prompt from the
tenant's brand, tone and locale; the retrieved passages, numbered for citation; as much recent history
as still fits; and the user's new message(s)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import Enum

import attrs

from application.ports.llm import ChatMessage, ChatRole, ToolSpec
from domain.conversations.citations import Source
from domain.conversations.message import DeliveryStatus, Direction, Message, MessageType, SenderRole
from domain.tenants.tenant import TenantSettings

# A turn input or history message longer than this is cut: one pasted novel must not crowd out the rest.
MAX_MESSAGE_CHARS = 4000
MAX_PASSAGE_CHARS = 2000
# Passages may take at most this share of what is left after the system prompt, tools and the new input.
PASSAGE_SHARE = 0.6


def estimate_tokens(text: str) -> int:
    """A conservative token count without a tokenizer: ~3 characters per token for Latin scripts,
    ~4 bytes per token for the rest, plus the per-message framing."""
    return 4 + max(len(text) // 3, len(text.encode()) // 4)


class Knowledge(Enum):
    """What the tenant's knowledge base offers this turn."""

    OFF = "off"  # retrieval is disabled for the tenant
    EMPTY = "empty"  # enabled, but nothing is indexed yet: there is nothing to search
    SEARCHABLE = "searchable"


@attrs.frozen
class PromptBudget:
    context_tokens: int
    max_output_tokens: int

    @property
    def prompt_tokens(self) -> int:
        return max(0, self.context_tokens - self.max_output_tokens)


@attrs.frozen
class Prompt:
    messages: tuple[ChatMessage, ...]
    # The passages the system prompt shows, under the numbers the answer cites.
    sources: tuple[Source, ...]
    history_messages: int
    estimated_tokens: int


def build_prompt(
    *,
    assistant_name: str,
    settings: TenantSettings,
    sources: Sequence[Source],
    knowledge: Knowledge,
    history: Sequence[Message],
    turn_inputs: Sequence[Message],
    tools: Sequence[ToolSpec],
    budget: PromptBudget,
) -> Prompt:
    inputs = [ChatMessage(ChatRole.USER, _clip(render_input(message), MAX_MESSAGE_CHARS)) for message in turn_inputs]
    instructions = _instructions(assistant_name, settings, knowledge, has_tools=bool(tools))
    fixed = (
        estimate_tokens(instructions)
        + sum(estimate_tokens(message.content) for message in inputs)
        + estimate_tokens(json.dumps([attrs.asdict(tool) for tool in tools]))
    )
    remaining = budget.prompt_tokens - fixed

    shown: list[Source] = []
    passage_budget = int(max(0, remaining) * PASSAGE_SHARE)
    for source in sources:
        cost = estimate_tokens(_passage(source))
        if cost > passage_budget:
            break
        shown.append(source)
        passage_budget -= cost
        remaining -= cost
    system = instructions + _knowledge_section(shown, knowledge)

    kept: list[ChatMessage] = []
    for message in reversed(history):
        rendered = render_history(message)
        if rendered is None:
            continue
        cost = estimate_tokens(rendered.content)
        if cost > remaining:
            break
        kept.append(rendered)
        remaining -= cost
    kept.reverse()

    messages = (ChatMessage(ChatRole.SYSTEM, system), *kept, *inputs)
    return Prompt(
        messages=messages,
        sources=tuple(shown),
        history_messages=len(kept),
        estimated_tokens=budget.prompt_tokens - remaining,
    )


def render_input(message: Message) -> str:
    """What the user said; button, list and quick-reply taps read as the choice they made."""
    text = message.text.strip()
    if message.type in (
        MessageType.INTERACTIVE_REPLY,
        MessageType.TEMPLATE_BUTTON,
        MessageType.QUICK_REPLY,
        MessageType.POSTBACK,
    ):
        return f"(chose “{text}”)" if text else "(tapped an option)"
    return text or f"({message.type} message)"


def render_history(message: Message) -> ChatMessage | None:
    if message.direction is Direction.INBOUND:
        if message.sender is not SenderRole.CONTACT or message.type is MessageType.REACTION:
            return None
        return ChatMessage(ChatRole.USER, _clip(render_input(message), MAX_MESSAGE_CHARS))
    # The user never saw a reply that failed; it is not part of what was said.
    if message.status is DeliveryStatus.FAILED or message.sender is SenderRole.SYSTEM:
        return None
    text = message.text or (
        f"(template “{message.content.get('template')}”)" if message.type is MessageType.TEMPLATE else ""
    )
    if not text:
        return None
    if message.sender is SenderRole.AGENT:
        # The model must know a person said this, so it does not contradict or repeat them.
        text = f"[a human agent wrote] {text}"
    return ChatMessage(ChatRole.ASSISTANT, _clip(text, MAX_MESSAGE_CHARS))


def _instructions(assistant_name: str, settings: TenantSettings, knowledge: Knowledge, *, has_tools: bool) -> str:
    lines = [
        f"You are the customer assistant of {assistant_name}, chatting with a customer in a messaging app.",
        f"Tone: {settings.tone}.",
        f"Reply in the language the customer writes in; if unsure, use the business's language ({settings.locale}).",
        "Keep replies short and plain: no headings, tables or markdown links.",
    ]
    if knowledge is not Knowledge.OFF:
        lines += [
            "Answer questions about the business only from the numbered knowledge passages and tool results.",
            "After each sentence that uses a passage, cite it with its number in square brackets, like [1].",
            "Never invent facts, prices, policies, links or promises the passages do not state. If they do not "
            "answer the question, say so plainly and offer to connect the customer with a person.",
        ]
    if has_tools:
        lines.append(
            "If the customer asks for a person, is upset, or needs something you cannot do, call handoff_to_human."
        )
    return "\n".join(lines)


def _knowledge_section(sources: Sequence[Source], knowledge: Knowledge) -> str:
    if knowledge is Knowledge.OFF:
        return ""
    if knowledge is Knowledge.EMPTY:
        # No search tool either: the model would only spend a round trip finding nothing.
        return (
            "\n\nKnowledge passages: the business has not added any yet. For questions about the business, say "
            "you do not have that information and offer to connect the customer with a person. Do not guess."
        )
    if not sources:
        return (
            "\n\nKnowledge passages: none matched the customer's message. For questions about the business, "
            "search the knowledge base; if that finds nothing either, say you do not have that information "
            "and offer a person. Do not guess."
        )
    return "\n\nKnowledge passages:\n" + "\n\n".join(_passage(source) for source in sources)


def _passage(source: Source) -> str:
    return f"[{source.number}] {source.title or 'untitled'}\n{_clip(source.text, MAX_PASSAGE_CHARS)}"


def format_passages(sources: Sequence[Source]) -> str:
    """Tool result of search_knowledge_base: the passages under their citation numbers."""
    return "\n\n".join(_passage(source) for source in sources)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
