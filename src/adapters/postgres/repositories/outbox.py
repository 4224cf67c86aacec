from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.postgres.tables import outbox
from application.observability import correlation_id_var
from application.ports.tasks import Task
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
                    "kind": "event",
                    "aggregate_key": event.aggregate_key,
                    "type": event.type,
                    "payload": event.envelope(),
                    "correlation_id": event.correlation_id or correlation_id_var.get(),
                    "created_at": event.occurred_at,
                }
                for event in events
            ],
        )

    async def add_tasks(self, tasks: list[Task]) -> None:
        if not tasks:
            return
        await self._connection.execute(
            outbox.insert(),
            [
                {
                    "tenant_id": task.tenant_id,
                    "id": task.id,
                    "kind": "task",
                    "aggregate_key": task.ordering_key or f"task:{task.id}",
                    "type": task.name,
                    "payload": task.envelope(),
                    "correlation_id": task.correlation_id or correlation_id_var.get(),
                }
                for task in tasks
            ],
        )
