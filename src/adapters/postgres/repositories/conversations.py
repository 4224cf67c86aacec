from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.postgres.driver_statement import DriverStatement, parameters_for
from adapters.postgres.repositories.outbox import TransactionDriver
from adapters.postgres.tables import conversations
from domain.common.ids import ChannelId, ConversationId, TenantId
from domain.conversations.conversation import Conversation, ConversationState

# Every column is written: `_row` gives a value for each.
_COLUMNS = tuple(conversations.c.keys())
# Written once, with the conversation: its keys and its contact.
_FIXED = frozenset({"tenant_id", "id", "channel_id", "contact_id", "created_at"})

_CONTACT_KEY = ("tenant_id", "channel_id", "contact_id")
_CANDIDATE = parameters_for(conversations, *_COLUMNS)
_EXISTING = (
    conversations.select().where(*(conversations.c[name] == _CANDIDATE[name] for name in _CONTACT_KEY)).cte("existing")
)
_ADDED = (
    insert(conversations)
    .from_select(_COLUMNS, sa.select(*_CANDIDATE.values()).where(~sa.exists(_EXISTING.select())))
    .on_conflict_do_nothing(index_elements=list(_CONTACT_KEY))
    .returning(*conversations.c)
    .cte("added")
)
# Run on the driver (see driver_statement): every message looks its conversation up and writes it.
# The contact's conversation, or the candidate inserted when it has none, in one round trip either way; with
# `added` telling which. Empty only when a concurrent transaction inserted it after this statement's snapshot
# was taken (the insert waited for it, then stood back).
_GET_OR_ADD = DriverStatement(
    sa.union_all(
        sa.select(_EXISTING, sa.false().label("added")),
        sa.select(_ADDED, sa.true().label("added")),
    )
)
_GET = DriverStatement(
    conversations.select().where(
        conversations.c.tenant_id == sa.bindparam("b_tenant_id"), conversations.c.id == sa.bindparam("b_id")
    )
)
_FIND = DriverStatement(
    conversations.select().where(
        conversations.c.tenant_id == sa.bindparam("b_tenant_id"),
        conversations.c.channel_id == sa.bindparam("b_channel_id"),
        conversations.c.contact_id == sa.bindparam("b_contact_id"),
    )
)
_UPDATE = DriverStatement(
    conversations.update()
    .where(conversations.c.tenant_id == sa.bindparam("b_tenant_id"), conversations.c.id == sa.bindparam("b_id"))
    .values(parameters_for(conversations, *(name for name in _COLUMNS if name not in _FIXED)))
)


class PostgresConversationRepository:
    def __init__(self, connection: AsyncConnection, driver: TransactionDriver) -> None:
        self._connection = connection
        self._driver = driver

    async def get_or_add(self, conversation: Conversation) -> tuple[Conversation, bool]:
        row = await _GET_OR_ADD.fetchrow(self._driver, _row(conversation))
        if row is not None:
            return (conversation, True) if row["added"] else (_to_conversation(row), False)
        # Inserted meanwhile by a concurrent transaction, committed by now (the insert waited for it).
        existing = await self.find(conversation.tenant_id, conversation.channel_id, conversation.contact_id)
        if existing is None:
            raise RuntimeError("a conflicting conversation vanished within the transaction")
        return existing, False

    async def find(self, tenant_id: TenantId, channel_id: ChannelId, contact_id: str) -> Conversation | None:
        parameters = {"b_tenant_id": tenant_id, "b_channel_id": channel_id, "b_contact_id": contact_id}
        row = await _FIND.fetchrow(self._driver, parameters)
        return None if row is None else _to_conversation(row)

    async def get(self, tenant_id: TenantId, conversation_id: ConversationId) -> Conversation | None:
        row = await _GET.fetchrow(self._driver, {"b_tenant_id": tenant_id, "b_id": conversation_id})
        return None if row is None else _to_conversation(row)

    async def update(self, conversation: Conversation) -> None:
        await _UPDATE.execute(self._driver, _update_values(conversation))

    async def stage_update(self, conversation: Conversation) -> None:
        self._driver.defer(_UPDATE, _update_values(conversation))


def _row(conversation: Conversation) -> dict[str, Any]:
    return {
        "tenant_id": conversation.tenant_id,
        "id": conversation.id,
        "channel_id": conversation.channel_id,
        "contact_id": conversation.contact_id,
        "contact_name": conversation.contact_name,
        "state": str(conversation.state),
        "handoff_reason": conversation.handoff_reason,
        "last_inbound_at": conversation.last_inbound_at,
        "last_agent_at": conversation.last_agent_at,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
    }


def _to_conversation(row: Any) -> Conversation:
    return Conversation(
        id=ConversationId(row["id"]),
        tenant_id=TenantId(row["tenant_id"]),
        channel_id=ChannelId(row["channel_id"]),
        contact_id=row["contact_id"],
        contact_name=row["contact_name"],
        state=ConversationState(row["state"]),
        last_inbound_at=row["last_inbound_at"],
        last_agent_at=row["last_agent_at"],
        handoff_reason=row["handoff_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _update_values(conversation: Conversation) -> dict[str, Any]:
    return {"b_tenant_id": conversation.tenant_id, "b_id": conversation.id, **_row(conversation)}
