from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.postgres.driver_statement import DriverStatement, parameters_for
from adapters.postgres.repositories.outbox import TransactionDriver
from adapters.postgres.tables import messages
from domain.common.ids import ChannelId, ConversationId, MessageId, TenantId
from domain.conversations.message import DeliveryStatus, Direction, Message, MessageError, MessageType, SenderRole

# What a stored message writes (its `seq` is the sequence trigger's), as parameters named like the columns.
MESSAGE_VALUES = parameters_for(
    messages,
    "tenant_id",
    "id",
    "created_at",
    "conversation_id",
    "channel_id",
    "direction",
    "sender",
    "type",
    "text",
    "content",
    "provider_message_id",
    "reply_to_provider_id",
    "status",
    "error",
    "occurred_at",
    "idempotency_key",
)

# Run on the driver (see driver_statement): every message is stored, read and updated through these.
_INSERT = DriverStatement(messages.insert().values(MESSAGE_VALUES))
_GET = DriverStatement(
    messages.select()
    .where(messages.c.tenant_id == sa.bindparam("b_tenant_id"), messages.c.id == sa.bindparam("b_id"))
    .order_by(messages.c.created_at.desc())
    .limit(1)
)
_UPDATE_DELIVERY = DriverStatement(
    messages.update()
    .where(
        messages.c.tenant_id == sa.bindparam("b_tenant_id"),
        messages.c.id == sa.bindparam("b_id"),
        # The partition key lets Postgres touch one monthly partition only.
        messages.c.created_at == sa.bindparam("b_created_at"),
    )
    .values(
        status=sa.bindparam("status"),
        error=sa.bindparam("error", type_=messages.c.error.type),
        provider_message_id=sa.bindparam("provider_message_id"),
    )
)


class PostgresMessageRepository:
    def __init__(self, connection: AsyncConnection, driver: TransactionDriver) -> None:
        self._connection = connection
        self._driver = driver

    async def add(self, message: Message) -> None:
        await _INSERT.execute(self._driver, message_values(message))

    async def stage(self, message: Message) -> None:
        self._driver.defer(_INSERT, message_values(message))

    async def get(self, tenant_id: TenantId, message_id: MessageId) -> Message | None:
        row = await _GET.fetchrow(self._driver, {"b_tenant_id": tenant_id, "b_id": message_id})
        return None if row is None else _to_message(row)

    async def find_by_provider_id(
        self, tenant_id: TenantId, channel_id: ChannelId, provider_message_id: str
    ) -> Message | None:
        return await self._one(
            messages.c.tenant_id == tenant_id,
            messages.c.channel_id == channel_id,
            messages.c.provider_message_id == provider_message_id,
        )

    async def outbound_before(
        self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        moment: datetime,
        statuses: frozenset[DeliveryStatus],
    ) -> list[Message]:
        rows = await self._connection.execute(
            messages.select()
            .where(
                messages.c.tenant_id == tenant_id,
                messages.c.conversation_id == conversation_id,
                messages.c.created_at <= moment,
                messages.c.direction == str(Direction.OUTBOUND),
                messages.c.status.in_([str(status) for status in statuses]),
            )
            .order_by(messages.c.created_at)
        )
        return [_to_message(row._mapping) for row in rows]

    async def update_delivery(self, message: Message) -> None:
        await _UPDATE_DELIVERY.execute(
            self._driver,
            {
                "b_tenant_id": message.tenant_id,
                "b_id": message.id,
                "b_created_at": message.created_at,
                "status": str(message.status),
                "error": _error_json(message.error),
                "provider_message_id": message.provider_message_id,
            },
        )

    async def _one(self, *conditions: sa.ColumnElement[bool]) -> Message | None:
        row = (
            await self._connection.execute(
                messages.select().where(*conditions).order_by(messages.c.created_at.desc()).limit(1)
            )
        ).one_or_none()
        return None if row is None else _to_message(row._mapping)


def message_values(message: Message) -> dict[str, Any]:
    """The message's values for MESSAGE_VALUES."""
    return {
        "tenant_id": message.tenant_id,
        "id": message.id,
        "created_at": message.created_at,
        "conversation_id": message.conversation_id,
        "channel_id": message.channel_id,
        "direction": str(message.direction),
        "sender": str(message.sender),
        "type": str(message.type),
        "text": message.text,
        "content": message.content,
        "provider_message_id": message.provider_message_id,
        "reply_to_provider_id": message.reply_to_provider_id,
        "status": str(message.status),
        "error": _error_json(message.error),
        "occurred_at": message.occurred_at,
        "idempotency_key": message.idempotency_key,
    }


def _error_json(error: MessageError | None) -> dict[str, Any] | None:
    return None if error is None else attrs.asdict(error)


def _to_message(row: Any) -> Message:
    error = row["error"]
    return Message(
        id=MessageId(row["id"]),
        tenant_id=TenantId(row["tenant_id"]),
        conversation_id=ConversationId(row["conversation_id"]),
        channel_id=ChannelId(row["channel_id"]),
        direction=Direction(row["direction"]),
        sender=SenderRole(row["sender"]),
        type=MessageType(row["type"]),
        text=row["text"],
        content=row["content"],
        provider_message_id=row["provider_message_id"],
        reply_to_provider_id=row["reply_to_provider_id"],
        status=DeliveryStatus(row["status"]),
        error=None if error is None else MessageError(**error),
        created_at=row["created_at"],
        occurred_at=row["occurred_at"],
        idempotency_key=row["idempotency_key"],
    )
