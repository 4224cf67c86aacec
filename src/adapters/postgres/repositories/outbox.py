from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from adapters.postgres.driver_statement import DriverStatement
from application.observability import correlation_id_var
from application.ports.events import OutboxKind
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


class TransactionDriver:
    """The unit of work's driver connection as its repositories run statements on it (see driver_statement),
    with the writes deferred meanwhile riding on the next one: run by it, as CTEs ahead of its own work, or
    on a bare statement just before the commit. Two kinds are deferred: outbox rows (one insert for all of
    them, in the order staged) and a repository's last write to a row nothing later in the transaction
    reads (an inbox entry's finish). Staging events, finishing the entry and then reading the turn, as
    processing a message does, costs one round trip where it would cost three.

    A statement does not see what its own CTEs write, and its CTEs run in no set order: a deferred write
    must not be read by the transaction, nor depend on another one."""

    def __init__(self, driver: asyncpg.Connection) -> None:
        self._driver = driver
        self._staged: list[tuple[Any, ...]] = []
        self._deferred: list[tuple[str, list[Any]]] = []

    def stage(self, rows: list[tuple[Any, ...]]) -> None:
        self._staged.extend(rows)

    def defer(self, statement: DriverStatement, values: Mapping[str, Any]) -> None:
        self._deferred.append((statement.sql, statement.arguments(values)))

    async def fetch(self, sql: str, *arguments: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._driver.fetch(*self._carrying(sql, arguments))
        return rows

    async def fetchrow(self, sql: str, *arguments: Any) -> asyncpg.Record | None:
        return await self._driver.fetchrow(*self._carrying(sql, arguments))

    async def execute(self, sql: str, *arguments: Any) -> str:
        status: str = await self._driver.execute(*self._carrying(sql, arguments))
        return status

    async def flush(self) -> None:
        """Run what is still deferred, before the transaction commits."""
        if self._staged or self._deferred:
            await self._driver.execute(*self._carrying("SELECT", ()))

    def _carrying(self, sql: str, arguments: tuple[Any, ...]) -> tuple[Any, ...]:
        if not (self._staged or self._deferred):
            return (sql, *arguments)
        writes, carried = [], list(arguments)
        if self._staged:
            writes.append(f"staged_outbox AS ({_numbered_after(_INSERT_ROWS.sql, len(carried))})")
            carried.extend(_INSERT_ROWS.arguments(_columns(self._staged)))
        for index, (write, write_arguments) in enumerate(self._deferred):
            writes.append(f"staged_{index} AS ({_numbered_after(write, len(carried))})")
            carried.extend(write_arguments)
        self._staged, self._deferred = [], []
        head = _WITH.match(sql)
        if head is None:
            return (f"WITH {', '.join(writes)} {sql}", *carried)
        return (f"WITH {head.group(1) or ''}{', '.join(writes)}, {sql[head.end() :]}", *carried)


_WITH = re.compile(r"\s*WITH\s+(RECURSIVE\s+)?", re.IGNORECASE)


@functools.cache
def _numbered_after(sql: str, after: int) -> str:
    """The statement with its parameters numbered to follow `after` others."""
    return re.sub(r"\$(\d+)", lambda number: f"${int(number.group(1)) + after}", sql)


class PostgresOutbox:
    def __init__(self, driver: TransactionDriver) -> None:
        self._driver = driver
        # What the transaction wrote, for waking the relays of those kinds once it commits.
        self.kinds_written: set[OutboxKind] = set()

    async def add(self, events: list[Event]) -> None:
        if not events:
            return
        self.kinds_written.add(OutboxKind.EVENT)
        self._insert(
            [
                (
                    event.tenant_id,
                    event.id,
                    OutboxKind.EVENT.value,
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
        self.kinds_written.add(OutboxKind.TASK)
        self._insert(
            [
                (
                    task.tenant_id,
                    task.id,
                    OutboxKind.TASK.value,
                    task.ordering_key or f"task:{task.id}",
                    task.name,
                    task.envelope(),
                    task.correlation_id,
                    None,
                )
                for task in tasks
            ]
        )

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        current = correlation_id_var.get()
        self._driver.stage(
            [
                (tenant_id, id_, kind, aggregate_key, type_, json.dumps(payload), correlation_id or current, created_at)
                for tenant_id, id_, kind, aggregate_key, type_, payload, correlation_id, created_at in rows
            ]
        )


def _columns(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    tenant_ids, ids, kinds, aggregate_keys, types, payloads, correlation_ids, created_ats = zip(*rows, strict=True)
    return {
        "tenant_ids": tenant_ids,
        "ids": ids,
        "kinds": kinds,
        "aggregate_keys": aggregate_keys,
        "types": types,
        "payloads": payloads,
        "correlation_ids": correlation_ids,
        "created_ats": created_ats,
    }
