"""Which messages a turn answers: everything unanswered since the last reply, agent message or note."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.common.ids import ChannelId, ConversationId, MessageId, TenantId
from domain.conversations.conversation import Conversation
from domain.conversations.message import DeliveryStatus, Direction, Message, MessageType, SenderRole
from domain.conversations.turn import IN_REPLY_TO, split_turn, system_note

CONVERSATION = Conversation(
    id=ConversationId(uuid.uuid4()),
    tenant_id=TenantId(uuid.uuid4()),
    channel_id=ChannelId(uuid.uuid4()),
    contact_id="1",
)
START = datetime(2026, 1, 1, tzinfo=UTC)


def message(
    minute: int,
    *,
    sender: SenderRole = SenderRole.CONTACT,
    kind: MessageType = MessageType.TEXT,
    status: DeliveryStatus | None = None,
    content: dict[str, Any] | None = None,
) -> Message:
    inbound = sender is SenderRole.CONTACT
    return Message(
        id=MessageId(uuid.uuid4()),
        tenant_id=CONVERSATION.tenant_id,
        conversation_id=CONVERSATION.id,
        channel_id=CONVERSATION.channel_id,
        direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
        sender=sender,
        type=kind,
        text=f"m{minute}",
        content=content or {},
        status=status or (DeliveryStatus.RECEIVED if inbound else DeliveryStatus.SENT),
        created_at=START + timedelta(minutes=minute),
    )


def reply(minute: int, *answered: Message, status: DeliveryStatus = DeliveryStatus.SENT) -> Message:
    return message(minute, sender=SenderRole.BOT, status=status, content={IN_REPLY_TO: [str(m.id) for m in answered]})


def test_a_burst_since_the_last_reply_is_one_turn() -> None:
    first = message(0)
    answer = reply(1, first)
    burst = [message(2), message(3), message(4)]

    split = split_turn([first, answer, *burst])

    assert split.inputs == tuple(burst)
    assert split.history == (first, answer)


def test_a_reply_answers_only_what_it_lists() -> None:
    # m1 was stored while the reply to m0 was being claimed: it is still waiting for its answer.
    m0, m1 = message(0), message(1)

    split = split_turn([m0, m1, reply(2, m0)])

    assert split.inputs == (m1,)


def test_agent_messages_and_handoff_notes_close_what_came_before() -> None:
    during_handoff = message(1)
    agent = message(2, sender=SenderRole.AGENT)
    after = message(3)

    assert split_turn([message(0), during_handoff, agent, after]).inputs == (after,)
    note = system_note(CONVERSATION, "release", "back with the bot")
    assert split_turn([message(0), note]).inputs == ()


def test_reactions_and_media_are_not_inputs_but_taps_are() -> None:
    tap = message(1, kind=MessageType.INTERACTIVE_REPLY)

    split = split_turn([message(0, kind=MessageType.REACTION), message(1, kind=MessageType.IMAGE), tap])

    assert split.inputs == (tap,)


def test_a_reply_left_pending_is_reported_as_unconfirmed() -> None:
    question = message(0)
    pending = reply(1, question, status=DeliveryStatus.PENDING)

    split = split_turn([question, pending])

    assert split.inputs == ()
    assert split.unconfirmed == (pending,)
