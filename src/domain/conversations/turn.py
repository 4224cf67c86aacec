"""Which messages one turn of the assistant answers.

A turn answers every message the user sent since the conversation was last answered, as one input: a
burst of five quick messages gets one coherent reply. "Answered" is read off the timeline itself, so a
redelivered task finds its message answered and does nothing:
- a bot reply answers exactly the messages it lists in `content["in_reply_to"]`;
- an agent's message, and the notes recorded when a conversation is handed off or released, close
  everything before them (what was said during a handoff is history for the bot, not a question).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from domain.common.ids import MessageId, new_id
from domain.conversations.conversation import Conversation
from domain.conversations.message import (
    CONVERSATIONAL_TYPES,
    DeliveryStatus,
    Direction,
    Message,
    MessageType,
    SenderRole,
)

IN_REPLY_TO = "in_reply_to"
NOTE = "note"


def is_bot_input(message: Message) -> bool:
    """Text and taps (buttons, lists, postbacks, quick replies) are answered; reactions, media and
    notes are stored but not answered."""
    return (
        message.direction is Direction.INBOUND
        and message.sender is SenderRole.CONTACT
        and message.type in CONVERSATIONAL_TYPES
    )


def closes_earlier_messages(message: Message) -> bool:
    if message.sender is SenderRole.AGENT and message.direction is Direction.OUTBOUND:
        return True
    if message.sender is SenderRole.SYSTEM and message.type is MessageType.SYSTEM:
        return True
    # A bot reply that does not say what it answered (none of ours) closes everything before it.
    return message.sender is SenderRole.BOT and IN_REPLY_TO not in message.content


@attrs.frozen
class TurnSplit:
    # What was said before the turn, oldest first (inputs excluded).
    history: tuple[Message, ...]
    # The user's unanswered messages, oldest first.
    inputs: tuple[Message, ...]
    # Bot replies claimed but never confirmed sent (a worker died mid-send), by the inputs they answer.
    unconfirmed: tuple[Message, ...]


def split_turn(timeline: Sequence[Message]) -> TurnSplit:
    """`timeline` is the conversation's recent messages, oldest first."""
    start = 0
    for index, message in enumerate(timeline):
        if closes_earlier_messages(message):
            start = index + 1
    answered: set[str] = set()
    unconfirmed = []
    for message in timeline[start:]:
        if message.sender is SenderRole.BOT and message.direction is Direction.OUTBOUND:
            answered.update(str(item) for item in message.content.get(IN_REPLY_TO, ()))
            if message.status is DeliveryStatus.PENDING:
                unconfirmed.append(message)
    inputs = tuple(message for message in timeline[start:] if is_bot_input(message) and str(message.id) not in answered)
    input_ids = {message.id for message in inputs}
    history = tuple(message for message in timeline if message.id not in input_ids)
    return TurnSplit(history=history, inputs=inputs, unconfirmed=tuple(unconfirmed))


def answers(reply: Message, message_id: MessageId) -> bool:
    return str(message_id) in {str(item) for item in reply.content.get(IN_REPLY_TO, ())}


def system_note(conversation: Conversation, note: str, text: str, **details: Any) -> Message:
    """A line in the conversation's timeline recording what happened to it (handed off, released)."""
    return Message(
        id=MessageId(new_id()),
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.id,
        channel_id=conversation.channel_id,
        direction=Direction.INBOUND,
        sender=SenderRole.SYSTEM,
        type=MessageType.SYSTEM,
        text=text,
        content={NOTE: note, **details},
        status=DeliveryStatus.RECEIVED,
    )
