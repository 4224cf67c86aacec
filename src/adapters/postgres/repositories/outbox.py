from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.postgres.tables import outbox
from domain.events import Event


class PostgresOutbox:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, events: list[Event]) -> None:
        if not events:
            return
        await self._connection.execute(
            outbox.insert(),
            [
                {
                    "tenant_id": event.tenant_id,
                    "id": event.id,
                    "aggregate_key": event.aggregate_key,
                    "type": event.type,
                    "payload": event.envelope(),
                    "correlation_id": event.correlation_id,
                    "created_at": event.occurred_at,
                }
                for event in events
            ],
        )
