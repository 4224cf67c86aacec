"""One conversation with its messages (newest first, paged) and the tools its assistant called."""

from __future__ import annotations

import attrs

from application.auth import Principal
from application.conversations.views import ConversationView, MessageView, ToolCallView
from application.errors import InvalidInput, NotFound
from application.ports.repositories import Page
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import ConversationId, TenantId
from domain.tenants.api_key import Scope

MAX_MESSAGES_PAGE = 200
TOOL_CALLS_SHOWN = 100


@attrs.frozen
class GetConversationInput:
    actor: Principal
    tenant_id: TenantId
    conversation_id: ConversationId
    messages_limit: int = 100
    messages_cursor: str | None = None


@attrs.frozen
class ConversationDetail:
    conversation: ConversationView
    # Newest first; `messages.next_cursor` pages further back.
    messages: Page[MessageView]
    tool_calls: list[ToolCallView]


class GetConversation:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: GetConversationInput) -> ConversationDetail:
        data.actor.require(Scope.READ, data.tenant_id)
        if not 1 <= data.messages_limit <= MAX_MESSAGES_PAGE:
            raise InvalidInput(
                f"messages_limit must be between 1 and {MAX_MESSAGES_PAGE}", details={"field": "messages_limit"}
            )
        async with self._uow_factory(data.tenant_id) as uow:
            conversation = await uow.conversations.get(data.tenant_id, data.conversation_id)
            if conversation is None:
                raise NotFound("conversation not found")
            channel = await uow.channels.get(data.tenant_id, conversation.channel_id)
            messages = await uow.conversation_queries.messages(
                data.tenant_id, conversation.id, limit=data.messages_limit, cursor=data.messages_cursor
            )
            calls = await uow.conversation_queries.tool_calls(data.tenant_id, conversation.id, limit=TOOL_CALLS_SHOWN)
        return ConversationDetail(
            conversation=ConversationView.of(conversation, None if channel is None else channel.kind),
            messages=Page(
                items=[MessageView.of(message) for message in messages.items], next_cursor=messages.next_cursor
            ),
            tool_calls=[ToolCallView.of(call) for call in calls],
        )
