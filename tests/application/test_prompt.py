"""The prompt of a turn fits the model's budget: system prompt and the new input always, then passages,
then as much recent history as fits, newest first."""

from __future__ import annotations

import uuid

from application.conversations.prompt import Knowledge, PromptBudget, build_prompt, estimate_tokens
from domain.common.ids import ChannelId, ConversationId, MessageId, TenantId
from domain.conversations.citations import Source
from domain.conversations.message import DeliveryStatus, Direction, Message, MessageType, SenderRole
from domain.tenants.tenant import TenantSettings

IDS = (TenantId(uuid.uuid4()), ConversationId(uuid.uuid4()), ChannelId(uuid.uuid4()))


def said(text: str, sender: SenderRole = SenderRole.CONTACT, status: DeliveryStatus | None = None) -> Message:
    inbound = sender is SenderRole.CONTACT
    return Message(
        id=MessageId(uuid.uuid4()),
        tenant_id=IDS[0],
        conversation_id=IDS[1],
        channel_id=IDS[2],
        direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
        sender=sender,
        type=MessageType.TEXT,
        text=text,
        status=status or (DeliveryStatus.RECEIVED if inbound else DeliveryStatus.SENT),
    )


def prompt(history: list[Message], context_tokens: int, sources: list[Source] | None = None) -> list[tuple[str, str]]:
    built = build_prompt(
        assistant_name="Acme",
        settings=TenantSettings(tone="warm", locale="pt-BR"),
        sources=sources or [],
        knowledge=Knowledge.SEARCHABLE,
        history=history,
        turn_inputs=[said("And the refund?")],
        tools=(),
        budget=PromptBudget(context_tokens=context_tokens, max_output_tokens=100),
    )
    return [(str(message.role), message.content) for message in built.messages]


def test_history_is_kept_newest_first_within_the_budget() -> None:
    history = [said(f"old question number {n} " + "words " * 40) for n in range(20)]
    roomy = prompt(history, 100_000)
    tight = prompt(history, 1_200)

    assert len(roomy) == 22
    assert 2 < len(tight) < 22
    # What is kept is the most recent part, in order, ending with the new input.
    assert [content for _, content in tight[1:-1]] == [m.text.strip() for m in history[-(len(tight) - 2) :]]
    assert tight[-1] == ("user", "And the refund?")
    assert sum(estimate_tokens(content) for _, content in tight) <= 1_200


def test_agents_are_marked_and_failed_or_system_messages_left_out() -> None:
    history = [
        said("hi"),
        said("never delivered", SenderRole.BOT, DeliveryStatus.FAILED),
        said("Sam here, how can I help?", SenderRole.AGENT),
    ]

    messages = prompt(history, 100_000)

    assert messages[1:] == [
        ("user", "hi"),
        ("assistant", "[a human agent wrote] Sam here, how can I help?"),
        ("user", "And the refund?"),
    ]


def test_passages_are_numbered_in_the_system_prompt_and_the_tenant_shapes_it() -> None:
    sources = [Source(number=1, document_id="d", title="Refund policy", text="30 days.")]

    system = prompt([], 100_000, sources)[0][1]

    assert "[1] Refund policy\n30 days." in system
    assert "cite it with its number" in system
    assert "Acme" in system
    assert "warm" in system
    assert "pt-BR" in system


def test_without_matching_passages_the_model_is_told_not_to_guess() -> None:
    system = prompt([], 100_000)[0][1]

    assert "none matched" in system
    assert "Do not guess" in system
