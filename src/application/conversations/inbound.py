"""The conversation an inbound message lands in, whichever channel it came through."""

from __future__ import annotations

from datetime import datetime

from application.ports.unit_of_work import UnitOfWork
from domain.conversations.conversation import Conversation


async def record_inbound(
    uow: UnitOfWork, candidate: Conversation, at: datetime, *, locked: Conversation | None = None
) -> tuple[Conversation, bool]:
    """The contact's conversation (`candidate` if it has none yet) with a message received `at` recorded on
    it, and whether it is new. A new conversation is inserted as it ends up, so it is never updated straight
    after; an existing one takes the candidate's contact name when it brings one. `locked`: the contact's
    conversation as the transaction has locked it already; its write then waits for the next statement."""
    candidate.record_inbound(at)
    if locked is not None:
        _record_on(locked, candidate, at)
        await uow.conversations.stage_update(locked)
        return locked, False
    conversation, created = await uow.conversations.get_or_add(candidate)
    if not created:
        _record_on(conversation, candidate, at)
        await uow.conversations.update(conversation)
    return conversation, created


def _record_on(conversation: Conversation, candidate: Conversation, at: datetime) -> None:
    if candidate.contact_name and conversation.contact_name != candidate.contact_name:
        conversation.contact_name = candidate.contact_name
    conversation.record_inbound(at)
