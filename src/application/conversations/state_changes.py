"""Handing a conversation to a person and back, the same way whoever asks (the user, the model, an agent
tool through the API, the idle timer): state change, a note in the timeline, and the event that tells
the tenant's agent tools, all in the caller's transaction."""

from __future__ import annotations

from typing import Any

from application.conversations.views import conversation_event
from application.ports.unit_of_work import UnitOfWork
from domain.common.ids import MessageId
from domain.conversations.conversation import Conversation
from domain.conversations.handoff import HandoffTrigger
from domain.conversations.turn import system_note
from domain.events import EventType


async def hand_off(
    uow: UnitOfWork,
    conversation: Conversation,
    *,
    reason: str,
    trigger: HandoffTrigger,
    matched: str = "",
    message_id: MessageId | None = None,
) -> bool:
    """False when the conversation was with a person already (nothing changes, no event)."""
    if not conversation.hand_to_human(reason):
        return False
    details: dict[str, Any] = {"reason": reason, "trigger": str(trigger)}
    if matched:
        details["matched"] = matched
    if message_id is not None:
        details["message_id"] = str(message_id)
    await uow.conversations.update(conversation)
    await uow.messages.add(system_note(conversation, "handoff", f"Handed to a person: {reason}", **details))
    await uow.outbox.add([conversation_event(EventType.CONVERSATION_HANDOFF, conversation, **details)])
    return True


async def release(uow: UnitOfWork, conversation: Conversation, *, reason: str) -> bool:
    """False when the conversation was not with a person."""
    if not conversation.release_to_bot():
        return False
    await uow.conversations.update(conversation)
    await uow.messages.add(system_note(conversation, "release", f"Back with the assistant: {reason}", reason=reason))
    await uow.outbox.add([conversation_event(EventType.CONVERSATION_RELEASED, conversation, reason=reason)])
    return True
