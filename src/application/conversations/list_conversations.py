"""The conversation API's list: a tenant's conversations, filtered by channel, state and last activity,
searched over their messages' text, most recently active first, a cursor page at a time."""

from __future__ import annotations

from datetime import datetime

import attrs

from application.auth import Principal
from application.conversations.views import ConversationView
from application.errors import InvalidInput, NotFound
from application.ports.conversation_store import ConversationFilter
from application.ports.repositories import Page
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import ChannelId, TenantId
from domain.conversations.conversation import ConversationState
from domain.tenants.api_key import Scope

MAX_PAGE = 200
MAX_SEARCH_CHARS = 200


@attrs.frozen
class ListConversationsInput:
    actor: Principal
    tenant_id: TenantId
    channel_id: ChannelId | None = None
    state: ConversationState | None = None
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None
    limit: int = 50
    cursor: str | None = None


class ListConversations:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: ListConversationsInput) -> Page[ConversationView]:
        data.actor.require(Scope.READ, data.tenant_id)
        if not 1 <= data.limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", details={"field": "limit"})
        search = (data.search or "").strip() or None
        if search is not None and len(search) > MAX_SEARCH_CHARS:
            raise InvalidInput(f"q is at most {MAX_SEARCH_CHARS} characters", details={"field": "q"})
        if data.since is not None and data.until is not None and data.since >= data.until:
            raise InvalidInput("since must be before until", details={"field": "since"})
        query = ConversationFilter(
            channel_id=data.channel_id, state=data.state, since=data.since, until=data.until, text=search
        )
        async with self._uow_factory(data.tenant_id) as uow:
            if await uow.tenants.get(data.tenant_id) is None:
                raise NotFound("tenant not found")
            page = await uow.conversation_queries.search(data.tenant_id, query, limit=data.limit, cursor=data.cursor)
        return Page(
            items=[ConversationView.of(item.conversation, item.channel_kind, item.last_message) for item in page.items],
            next_cursor=page.next_cursor,
        )
