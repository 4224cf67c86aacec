"""Turn bookkeeping of the conversation engine: conversation locks, the timeline, the reply ledger and
tool-call records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.postgres.driver_statement import DriverStatement
from adapters.postgres.repositories.conversations import _to_conversation
from adapters.postgres.repositories.messages import MESSAGE_VALUES, _to_message, message_values
from adapters.postgres.repositories.tenant_tools import _to_tool
from adapters.postgres.repositories.tenants import _to_tenant
from adapters.postgres.tables import chunks, conversations, messages, outbound_sends, tenant_tools, tenants, tool_calls
from application.ports.conversation_store import TurnTenant
from domain.common.ids import ConversationId, TenantId
from domain.conversations.conversation import Conversation
from domain.conversations.message import Message
from domain.conversations.tool_call import ToolCallRecord

# Run on the driver (see driver_statement): every turn runs these.
# What a turn reads first, in one statement: the tenant's row, whether it has a chunk to search, and its active
# tools (a row per tool, the tenant's columns repeated; one row without tool columns when it has none), then
# the conversation's newest messages (a row each, the other columns null). Any chunk is searchable (the keyword
# leg reads them all, whatever their document's state or embedding model); the EXISTS is one probe of the
# chunks' primary key (tenant_id first).
_TOOL_PREFIX = "tool_"
_MESSAGE_PREFIX = "message_"
_RECENT = (
    messages.select()
    .where(
        messages.c.tenant_id == sa.bindparam("b_id"),
        messages.c.conversation_id == sa.bindparam("b_conversation_id"),
    )
    .order_by(messages.c.created_at.desc(), messages.c.id.desc())
    .limit(sa.bindparam("b_limit"))
    .subquery("recent")
)
_TENANT_ROWS = (
    sa.select(
        sa.literal_column("0").label("part"),
        tenants,
        sa.exists().where(chunks.c.tenant_id == sa.bindparam("b_id")).label("has_knowledge"),
        *(column.label(_TOOL_PREFIX + column.name) for column in tenant_tools.c),
        *(sa.null().label(_MESSAGE_PREFIX + column.name) for column in messages.c),
    )
    .select_from(
        tenants.outerjoin(
            tenant_tools, sa.and_(tenant_tools.c.tenant_id == tenants.c.id, tenant_tools.c.active.is_(True))
        )
    )
    .where(tenants.c.id == sa.bindparam("b_id"))
)
# A message's row: null in the tenant's and the tools' columns, as a tenant's row is in the message's.
_TIMELINE_COLUMNS: list[sa.ColumnElement[Any]] = [
    sa.literal_column("1"),
    *(sa.null() for _ in range(len(tenants.c) + 1 + len(tenant_tools.c))),
    *_RECENT.c,
]
_TIMELINE_ROWS = sa.select(*_TIMELINE_COLUMNS)
# Each message column's name and the name it has in the union, worked out once: a turn reads up to
# TIMELINE_WINDOW messages.
_TIMELINE_KEYS = tuple((column.name, _MESSAGE_PREFIX + column.name) for column in messages.c)
_TENANT_AND_TIMELINE = DriverStatement(
    sa.union_all(_TENANT_ROWS, _TIMELINE_ROWS).order_by(
        sa.literal_column("part"),
        sa.literal_column(_TOOL_PREFIX + "name"),
        sa.literal_column(_MESSAGE_PREFIX + "created_at"),
        sa.literal_column(_MESSAGE_PREFIX + "id"),
    )
)
_LOCK_CONVERSATION = DriverStatement(
    conversations.select()
    .where(conversations.c.tenant_id == sa.bindparam("b_tenant_id"), conversations.c.id == sa.bindparam("b_id"))
    .with_for_update()
)
# Run after `_LOCK_CONVERSATION`, never joined into it: a statement reads from the snapshot taken when it
# starts, so one that waited for the lock would not see the messages its holder committed (an agent's reply).
_MESSAGES_AFTER = DriverStatement(
    messages.select()
    .where(
        messages.c.tenant_id == sa.bindparam("b_tenant_id"),
        messages.c.conversation_id == sa.bindparam("b_conversation_id"),
        messages.c.created_at > sa.bindparam("b_moment"),
    )
    .order_by(messages.c.created_at, messages.c.id)
)
# Through the ledger's primary key to the message's (partition key included): the messages table has no index
# on idempotency_key, so looking the key up there would read every message of the tenant.
_CLAIMED_MESSAGE = (
    sa.select(messages)
    .join(
        outbound_sends,
        sa.and_(
            outbound_sends.c.tenant_id == messages.c.tenant_id,
            outbound_sends.c.message_id == messages.c.id,
            outbound_sends.c.message_created_at == messages.c.created_at,
        ),
    )
    .where(
        outbound_sends.c.tenant_id == sa.bindparam("b_tenant_id"),
        outbound_sends.c.idempotency_key == sa.bindparam("b_key"),
    )
)
# The ledger row and the message it admits, in one statement: the message is inserted only when the key
# was claimed (the CTE returned a row), so a taken key stores nothing.
_CLAIM = (
    insert(outbound_sends)
    .values(
        tenant_id=MESSAGE_VALUES["tenant_id"],
        idempotency_key=MESSAGE_VALUES["idempotency_key"],
        message_id=MESSAGE_VALUES["id"],
        message_created_at=MESSAGE_VALUES["created_at"],
    )
    .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
    .returning(outbound_sends.c.message_id)
    .cte("claim")
)
_ADD_CLAIMED = DriverStatement(
    messages.insert()
    .from_select(list(MESSAGE_VALUES), sa.select(*MESSAGE_VALUES.values()).select_from(_CLAIM))
    .returning(messages.c.id)
)


class PostgresTurnRepository:
    def __init__(self, connection: AsyncConnection, driver: asyncpg.Connection) -> None:
        self._connection = connection
        self._driver = driver

    async def tenant_and_timeline(
        self, tenant_id: TenantId, conversation_id: ConversationId, limit: int
    ) -> tuple[TurnTenant | None, list[Message]]:
        rows = await _TENANT_AND_TIMELINE.fetch(
            self._driver, {"b_id": tenant_id, "b_conversation_id": conversation_id, "b_limit": limit}
        )
        tenant_rows = [row for row in rows if row["part"] == 0]
        timeline = [_to_message({name: row[key] for name, key in _TIMELINE_KEYS}) for row in rows if row["part"] == 1]
        if not tenant_rows:
            return None, timeline
        tools = tuple(
            _to_tool({column.name: row[_TOOL_PREFIX + column.name] for column in tenant_tools.c})
            for row in tenant_rows
            if row[_TOOL_PREFIX + "id"] is not None
        )
        return TurnTenant(_to_tenant(tenant_rows[0]), bool(tenant_rows[0]["has_knowledge"]), tools), timeline

    async def lock_conversation(self, tenant_id: TenantId, conversation_id: ConversationId) -> Conversation | None:
        row = await _LOCK_CONVERSATION.fetchrow(self._driver, {"b_tenant_id": tenant_id, "b_id": conversation_id})
        return None if row is None else _to_conversation(row)

    async def messages_after(
        self, tenant_id: TenantId, conversation_id: ConversationId, moment: datetime
    ) -> list[Message]:
        rows = await _MESSAGES_AFTER.fetch(
            self._driver, {"b_tenant_id": tenant_id, "b_conversation_id": conversation_id, "b_moment": moment}
        )
        return [_to_message(row) for row in rows]

    async def add_claimed(self, message: Message) -> bool:
        if message.idempotency_key is None:
            raise ValueError("a claimed message needs an idempotency key")
        return await _ADD_CLAIMED.fetchrow(self._driver, message_values(message)) is not None

    async def claimed_message(self, tenant_id: TenantId, idempotency_key: str) -> Message | None:
        row = (
            await self._connection.execute(_CLAIMED_MESSAGE, {"b_tenant_id": tenant_id, "b_key": idempotency_key})
        ).one_or_none()
        return None if row is None else _to_message(row._mapping)

    async def forget_claims_before(self, moment: datetime) -> int:
        result = await self._connection.execute(outbound_sends.delete().where(outbound_sends.c.created_at < moment))
        return result.rowcount

    async def record_tool_calls(self, records: Sequence[ToolCallRecord]) -> None:
        if not records:
            return
        await self._connection.execute(
            tool_calls.insert(),
            [
                {
                    "tenant_id": record.tenant_id,
                    "id": record.id,
                    "conversation_id": record.conversation_id,
                    "message_id": record.message_id,
                    "iteration": record.iteration,
                    "call_id": record.call_id,
                    "name": record.name,
                    "arguments": record.arguments,
                    "result": record.result,
                    "ok": record.ok,
                    "duration_ms": record.duration_ms,
                    "created_at": record.created_at,
                }
                for record in records
            ],
        )
