from __future__ import annotations

import uuid

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.postgres.tables import processed_messages
from domain.common.ids import TenantId


class PostgresProcessedMessages:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def record(self, tenant_id: TenantId, consumer: str, message_id: uuid.UUID) -> bool:
        # Inside the consumer's transaction: a concurrent copy of the same message waits on this row
        # and then finds it, so exactly one of them applies the effect.
        result = await self._connection.execute(
            insert(processed_messages)
            .values(tenant_id=tenant_id, consumer=consumer, message_id=message_id)
            .on_conflict_do_nothing()
        )
        return bool(result.rowcount)
