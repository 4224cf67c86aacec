from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.postgres.driver_statement import DriverStatement, parameters_for
from adapters.postgres.repositories.channels import to_channel
from adapters.postgres.repositories.conversations import _to_conversation
from adapters.postgres.repositories.outbox import TransactionDriver
from adapters.postgres.tables import channels, conversations, inbox
from application.ports.messaging_repositories import LockedInboxEntry
from application.ports.security import SecretCipher
from domain.channels.channel import ChannelKind
from domain.channels.inbox import InboxEntry, InboxState
from domain.common.ids import ChannelId, MessageId, TenantId

_INSERT_NEW = (
    insert(inbox)
    .on_conflict_do_nothing(index_elements=["tenant_id", "channel_id", "provider_event_key"])
    .returning(inbox.c.id)
)

# Run on the driver (see driver_statement): every processed entry runs these.
_others = inbox.alias("others")
# The entry, locked, whether its contact has other events waiting, and its channel (not locked: a channel
# changed meanwhile is read as the entry's processing would have read it a moment earlier). The partial index
# on pending entries keeps the EXISTS to the contact's few rows still waiting; the state is a literal so that
# even a generic (prepared) plan can use that index.
_CHANNEL_PREFIX = "channel__"
# The contact's conversation on the entry's channel, locked as well: a message stored there then writes it
# without looking it up first.
_CONVERSATION_PREFIX = "conversation__"
_contact_conversation = (
    sa.select(conversations)
    .where(
        conversations.c.tenant_id == inbox.c.tenant_id,
        conversations.c.channel_id == inbox.c.channel_id,
        conversations.c.contact_id == inbox.c.contact_id,
    )
    .with_for_update()
    .lateral("contact_conversation")
)
_LOCK = DriverStatement(
    sa.select(
        inbox,
        sa.exists()
        .where(
            _others.c.tenant_id == inbox.c.tenant_id,
            _others.c.channel_id == inbox.c.channel_id,
            _others.c.contact_id == inbox.c.contact_id,
            _others.c.state == sa.literal_column(f"'{InboxState.PENDING}'"),
            _others.c.id != inbox.c.id,
        )
        .label("others_pending"),
        # The contact's events received before this one and still waiting, oldest first (usually none).
        sa.func.array(
            sa.select(_others.c.id)
            .where(
                _others.c.tenant_id == inbox.c.tenant_id,
                _others.c.channel_id == inbox.c.channel_id,
                _others.c.contact_id == inbox.c.contact_id,
                _others.c.state == sa.literal_column(f"'{InboxState.PENDING}'"),
                sa.tuple_(_others.c.received_at, _others.c.id) < sa.tuple_(inbox.c.received_at, inbox.c.id),
            )
            .order_by(_others.c.received_at, _others.c.id)
            .scalar_subquery()
        ).label("older_pending"),
        *(column.label(_CHANNEL_PREFIX + column.name) for column in channels.c),
        *(column.label(_CONVERSATION_PREFIX + column.name) for column in _contact_conversation.c),
    )
    .select_from(
        inbox.outerjoin(
            channels, sa.and_(channels.c.tenant_id == inbox.c.tenant_id, channels.c.id == inbox.c.channel_id)
        ).outerjoin(_contact_conversation, sa.true())
    )
    .where(inbox.c.tenant_id == sa.bindparam("b_tenant_id"), inbox.c.id == sa.bindparam("b_id"))
    .with_for_update(of=inbox)
)
_CONVERSATION_KEYS = tuple((column.name, _CONVERSATION_PREFIX + column.name) for column in conversations.c)
_FINISH = DriverStatement(
    inbox.update()
    .where(inbox.c.tenant_id == sa.bindparam("b_tenant_id"), inbox.c.id == sa.bindparam("b_id"))
    .values(parameters_for(inbox, "state", "outcome", "message_id", "processed_at"))
)


class PostgresInboxRepository:
    def __init__(self, connection: AsyncConnection, driver: TransactionDriver, cipher: SecretCipher) -> None:
        self._connection = connection
        self._driver = driver
        self._cipher = cipher

    async def add_new(self, entries: list[InboxEntry]) -> list[InboxEntry]:
        if not entries:
            return []
        # One cached statement run as "insertmanyvalues": no SQL compilation per request.
        inserted = await self._connection.execute(
            _INSERT_NEW,
            [
                {
                    "tenant_id": entry.tenant_id,
                    "id": entry.id,
                    "channel_id": entry.channel_id,
                    "kind": str(entry.kind),
                    "provider_event_key": entry.provider_event_key,
                    "contact_id": entry.contact_id,
                    "payload": entry.payload,
                    "received_at": entry.received_at,
                }
                for entry in entries
            ],
        )
        new_ids = {row[0] for row in inserted}
        return [entry for entry in entries if entry.id in new_ids]

    async def lock(self, tenant_id: TenantId, entry_id: uuid.UUID) -> LockedInboxEntry | None:
        row = await _LOCK.fetchrow(self._driver, {"b_tenant_id": tenant_id, "b_id": entry_id})
        if row is None:
            return None
        channel = (
            None
            if row[_CHANNEL_PREFIX + "id"] is None
            else to_channel({column.name: row[_CHANNEL_PREFIX + column.name] for column in channels.c}, self._cipher)
        )
        conversation = (
            None
            if row[_CONVERSATION_PREFIX + "id"] is None
            else _to_conversation({name: row[key] for name, key in _CONVERSATION_KEYS})
        )
        return LockedInboxEntry(
            _to_entry(row), bool(row["others_pending"]), channel, conversation, tuple(row["older_pending"])
        )

    async def finish(self, entry: InboxEntry) -> None:
        # The entry's last write in its transaction: it rides on the next statement (see TransactionDriver).
        self._driver.defer(
            _FINISH,
            {
                "b_tenant_id": entry.tenant_id,
                "b_id": entry.id,
                "state": str(entry.state),
                "outcome": entry.outcome[:1000],
                "message_id": entry.message_id,
                "processed_at": entry.processed_at,
            },
        )


def _to_entry(row: Any) -> InboxEntry:
    return InboxEntry(
        id=row["id"],
        tenant_id=TenantId(row["tenant_id"]),
        channel_id=ChannelId(row["channel_id"]),
        kind=ChannelKind(row["kind"]),
        provider_event_key=row["provider_event_key"],
        payload=row["payload"],
        contact_id=row["contact_id"],
        received_at=row["received_at"],
        state=InboxState(row["state"]),
        outcome=row["outcome"],
        message_id=None if row["message_id"] is None else MessageId(row["message_id"]),
        processed_at=row["processed_at"],
    )
