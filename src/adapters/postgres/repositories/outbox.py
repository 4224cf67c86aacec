from __future__ import annotations

import json
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from adapters.postgres.driver_statement import DriverStatement
from application.observability import correlation_id_var
from application.ports.tasks import Task
from domain.events import Event

# Run on the driver (see driver_statement): every message stages its events through it. The rows arrive as
# one array per column and are one statement, so the notify trigger (a statement trigger) runs once for them
# all; identity values follow the ordinality, so `seq` keeps the order given. A task has no time of its own.
_INSERT_ROWS = DriverStatement(
    sa.text("""
        INSERT INTO outbox (tenant_id, id, kind, aggregate_key, type, payload, correlation_id, created_at)
        SELECT r.tenant_id, r.id, r.kind, r.aggregate_key, r.type, r.payload::jsonb, r.correlation_id,
          coalesce(r.created_at, now())
        FROM unnest(:tenant_ids, :ids, :kinds, :aggregate_keys, :types, :payloads, :correlation_ids, :created_ats)
          WITH ORDINALITY AS r (tenant_id, id, kind, aggregate_key, type, payload, correlation_id, created_at, position)
        ORDER BY r.position
    """).bindparams(
        sa.bindparam("tenant_ids", type_=ARRAY(UUID(as_uuid=True))),
        sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True))),
        sa.bindparam("kinds", type_=ARRAY(sa.Text)),
        sa.bindparam("aggregate_keys", type_=ARRAY(sa.Text)),
        sa.bindparam("types", type_=ARRAY(sa.Text)),
        sa.bindparam("payloads", type_=ARRAY(sa.Text)),
        sa.bindparam("correlation_ids", type_=ARRAY(sa.Text)),
        sa.bindparam("created_ats", type_=ARRAY(sa.DateTime(timezone=True))),
    )
)


class PostgresOutbox:
    def __init__(self, driver: asyncpg.Connection) -> None:
        self._driver = driver

    async def add(self, events: list[Event]) -> None:
        if not events:
            return
        await self._insert(
            [
                (
                    event.tenant_id,
                    event.id,
                    "event",
                    event.aggregate_key,
                    event.type,
                    event.envelope(),
                    event.correlation_id,
                    event.occurred_at,
                )
                for event in events
            ]
        )

    async def add_tasks(self, tasks: list[Task]) -> None:
        if not tasks:
            return
        await self._insert(
            [
                (
                    task.tenant_id,
                    task.id,
                    "task",
                    task.ordering_key or f"task:{task.id}",
                    task.name,
                    task.envelope(),
                    task.correlation_id,
                    None,
                )
                for task in tasks
            ]
        )

    async def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        current = correlation_id_var.get()
        tenant_ids, ids, kinds, aggregate_keys, types, payloads, correlation_ids, created_ats = zip(*rows, strict=True)
        await _INSERT_ROWS.execute(
            self._driver,
            {
                "tenant_ids": tenant_ids,
                "ids": ids,
                "kinds": kinds,
                "aggregate_keys": aggregate_keys,
                "types": types,
                "payloads": [json.dumps(payload) for payload in payloads],
                "correlation_ids": [correlation_id or current for correlation_id in correlation_ids],
                "created_ats": created_ats,
            },
        )
