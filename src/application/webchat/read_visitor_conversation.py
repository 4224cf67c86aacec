"""What a widget has not shown yet: the visitor's conversation after a sequence number, read from the
database, so a reconnecting tab or a reloaded page gets exactly what it missed, in order."""

from __future__ import annotations

import attrs

from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.webchat import VisitorClaims
from application.webchat.views import ChatMessageView, shown_to_visitor
from domain.conversations.conversation import ConversationState

PAGE_SIZE = 100


@attrs.frozen
class ReadVisitorConversationInput:
    visitor: VisitorClaims
    after_seq: int
    limit: int = PAGE_SIZE


@attrs.frozen
class VisitorConversationUpdate:
    messages: tuple[ChatMessageView, ...]
    # The highest number read (messages the widget does not show still move the cursor on).
    last_seq: int
    # More than `limit` were waiting: read again after last_seq.
    more: bool
    # None while the visitor has not written yet.
    state: ConversationState | None


class ReadVisitorConversation:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: ReadVisitorConversationInput) -> VisitorConversationUpdate:
        visitor = data.visitor
        after = max(data.after_seq, 0)
        async with self._uow_factory(visitor.tenant_id) as uow:
            conversation = await uow.conversations.find(visitor.tenant_id, visitor.channel_id, visitor.visitor_id)
            if conversation is None:
                return VisitorConversationUpdate(messages=(), last_seq=after, more=False, state=None)
            entries = await uow.timeline.after(visitor.tenant_id, conversation.id, after, data.limit)
        shown = tuple(ChatMessageView.of(entry) for entry in entries if shown_to_visitor(entry))
        return VisitorConversationUpdate(
            messages=shown,
            last_seq=entries[-1].seq if entries else after,
            more=len(entries) == data.limit,
            state=conversation.state,
        )
