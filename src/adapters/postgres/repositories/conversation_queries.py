"""Read side of the conversation API: filtered, searchable, cursor-paged lists; a conversation's messages
and tool calls; handoffs due for the idle timer."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.postgres.repositories.conversations import _to_conversation
from adapters.postgres.repositories.messages import _to_message
from adapters.postgres.tables import channels, conversations, messages, tenants, tool_calls
from application.errors import InvalidInput
from application.ports.conversation_store import ConversationFilter, ConversationSummary, IdleHandoff
from application.ports.repositories import Page
from domain.channels.channel import ChannelKind
from domain.common.ids import ConversationId, MessageId, TenantId
from domain.conversations.message import Message, SenderRole
from domain.conversations.tool_call import ToolCallRecord

# Must be the expression of ix_messages_text_search for the index to serve the search.
_MESSAGE_TEXT = sa.func.to_tsvector(sa.literal_column("'simple'"), messages.c.text)
_DEFAULT_IDLE_MINUTES = 60


class PostgresConversationQueries:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def search(
        self, tenant_id: TenantId, query: ConversationFilter, *, limit: int, cursor: str | None
    ) -> Page[ConversationSummary]:
        statement = (
            sa.select(conversations, channels.c.kind.label("channel_kind"))
            .join(
                channels,
                sa.and_(channels.c.tenant_id == conversations.c.tenant_id, channels.c.id == conversations.c.channel_id),
            )
            .where(conversations.c.tenant_id == tenant_id)
        )
        if query.channel_id is not None:
            statement = statement.where(conversations.c.channel_id == query.channel_id)
        if query.state is not None:
            statement = statement.where(conversations.c.state == str(query.state))
        if query.since is not None:
            statement = statement.where(conversations.c.updated_at >= query.since)
        if query.until is not None:
            statement = statement.where(conversations.c.updated_at < query.until)
        if query.text:
            statement = statement.where(
                sa.exists().where(
                    messages.c.tenant_id == conversations.c.tenant_id,
                    messages.c.conversation_id == conversations.c.id,
                    _MESSAGE_TEXT.op("@@")(sa.func.websearch_to_tsquery(sa.literal_column("'simple'"), query.text)),
                )
            )
        if cursor is not None:
            moment, last_id = _decode_cursor(cursor)
            statement = statement.where(
                sa.tuple_(conversations.c.updated_at, conversations.c.id)
                < sa.tuple_(sa.literal(moment), sa.literal(last_id))
            )
        rows = (
            await self._connection.execute(
                statement.order_by(conversations.c.updated_at.desc(), conversations.c.id.desc()).limit(limit + 1)
            )
        ).all()
        page = rows[:limit]
        latest = await self._last_messages(tenant_id, [row._mapping["id"] for row in page])
        items = [
            ConversationSummary(
                conversation=_to_conversation(row._mapping),
                channel_kind=ChannelKind(row._mapping["channel_kind"]),
                last_message=latest.get(row._mapping["id"]),
            )
            for row in page
        ]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1].conversation
            next_cursor = _encode_cursor(last.updated_at, last.id)
        return Page(items=items, next_cursor=next_cursor)

    async def _last_messages(self, tenant_id: TenantId, conversation_ids: list[uuid.UUID]) -> dict[uuid.UUID, Message]:
        if not conversation_ids:
            return {}
        rows = await self._connection.execute(
            messages.select()
            .where(
                messages.c.tenant_id == tenant_id,
                messages.c.conversation_id.in_(conversation_ids),
                messages.c.sender != str(SenderRole.SYSTEM),
            )
            .ext(distinct_on(messages.c.conversation_id))
            .order_by(messages.c.conversation_id, messages.c.created_at.desc())
        )
        return {row._mapping["conversation_id"]: _to_message(row._mapping) for row in rows}

    async def messages(
        self, tenant_id: TenantId, conversation_id: ConversationId, *, limit: int, cursor: str | None
    ) -> Page[Message]:
        statement = messages.select().where(
            messages.c.tenant_id == tenant_id, messages.c.conversation_id == conversation_id
        )
        if cursor is not None:
            moment, last_id = _decode_cursor(cursor)
            statement = statement.where(
                sa.tuple_(messages.c.created_at, messages.c.id) < sa.tuple_(sa.literal(moment), sa.literal(last_id))
            )
        rows = (
            await self._connection.execute(
                statement.order_by(messages.c.created_at.desc(), messages.c.id.desc()).limit(limit + 1)
            )
        ).all()
        items = [_to_message(row._mapping) for row in rows[:limit]]
        next_cursor = _encode_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit else None
        return Page(items=items, next_cursor=next_cursor)

    async def tool_calls(
        self, tenant_id: TenantId, conversation_id: ConversationId, *, limit: int
    ) -> list[ToolCallRecord]:
        rows = await self._connection.execute(
            tool_calls.select()
            .where(tool_calls.c.tenant_id == tenant_id, tool_calls.c.conversation_id == conversation_id)
            .order_by(tool_calls.c.created_at.desc(), tool_calls.c.iteration.desc())
            .limit(limit)
        )
        return [_to_record(row._mapping) for row in reversed(rows.all())]

    async def idle_handoffs(self, moment: datetime, *, limit: int) -> list[IdleHandoff]:
        idle_minutes = sa.func.coalesce(
            tenants.c.settings["handoff_idle_release_minutes"].astext.cast(sa.Integer), _DEFAULT_IDLE_MINUTES
        )
        rows = await self._connection.execute(
            sa.select(conversations.c.tenant_id, conversations.c.id)
            .join(tenants, tenants.c.id == conversations.c.tenant_id)
            .where(
                conversations.c.state == "human",
                conversations.c.last_agent_at
                <= sa.literal(moment) - sa.func.make_interval(0, 0, 0, 0, 0, idle_minutes),
            )
            .order_by(conversations.c.last_agent_at)
            .limit(limit)
        )
        return [IdleHandoff(TenantId(row.tenant_id), ConversationId(row.id)) for row in rows]


def _to_record(row: Any) -> ToolCallRecord:
    return ToolCallRecord(
        id=row["id"],
        tenant_id=TenantId(row["tenant_id"]),
        conversation_id=ConversationId(row["conversation_id"]),
        message_id=MessageId(row["message_id"]),
        iteration=row["iteration"],
        call_id=row["call_id"],
        name=row["name"],
        arguments=row["arguments"],
        result=row["result"],
        ok=row["ok"],
        duration_ms=row["duration_ms"],
        created_at=row["created_at"],
    )


def _encode_cursor(moment: datetime, last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(json.dumps([moment.isoformat(), str(last_id)]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        moment, last_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(moment), uuid.UUID(last_id)
    except (ValueError, TypeError) as error:
        raise InvalidInput("cursor is not valid", details={"field": "cursor"}) from error
