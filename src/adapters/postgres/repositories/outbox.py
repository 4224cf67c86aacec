from __future__ import annotations

import functools
import json
import re
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


class TransactionDriver:
    """The unit of work's driver connection as its repositories run statements on it (see driver_statement),
    with the outbox rows staged meanwhile riding on the next one: inserted by it, as a CTE ahead of its own
    work, or on their own just before the commit. Nothing in a transaction reads the outbox it writes, so no
    statement depends on whether they are in yet; staging events then running a statement, as storing a
    message and finishing its inbox entry do, costs one round trip instead of two."""

    def __init__(self, driver: asyncpg.Connection) -> None:
        self._driver = driver
        self._staged: list[tuple[Any, ...]] = []

    def stage(self, rows: list[tuple[Any, ...]]) -> None:
        self._staged.extend(rows)

    async def fetch(self, sql: str, *arguments: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._driver.fetch(*self._carrying(sql, arguments))
        return rows

    async def fetchrow(self, sql: str, *arguments: Any) -> asyncpg.Record | None:
        return await self._driver.fetchrow(*self._carrying(sql, arguments))

    async def execute(self, sql: str, *arguments: Any) -> str:
        status: str = await self._driver.execute(*self._carrying(sql, arguments))
        return status

    async def flush(self) -> None:
        """Insert what is still staged, before the transaction commits."""
        if self._staged:
            await self._driver.execute(_INSERT_ROWS.sql, *self._take())

    def _carrying(self, sql: str, arguments: tuple[Any, ...]) -> tuple[Any, ...]:
        if not self._staged:
            return (sql, *arguments)
        insert = _staged_insert(len(arguments))
        head = _WITH.match(sql)
        if head is None:
            carried = f"WITH staged_outbox AS ({insert}) {sql}"
        else:
            carried = f"WITH {head.group(1) or ''}staged_outbox AS ({insert}), {sql[head.end() :]}"
        return (carried, *arguments, *self._take())

    def _take(self) -> list[Any]:
        staged, self._staged = self._staged, []
        return _INSERT_ROWS.arguments(_columns(staged))


_WITH = re.compile(r"\s*WITH\s+(RECURSIVE\s+)?", re.IGNORECASE)


@functools.cache
def _staged_insert(after: int) -> str:
    """The outbox insert numbered to follow a statement's own `after` parameters."""
    return re.sub(r"\$(\d+)", lambda number: f"${int(number.group(1)) + after}", _INSERT_ROWS.sql)


class PostgresOutbox:
    def __init__(self, driver: TransactionDriver) -> None:
        self._driver = driver

    async def add(self, events: list[Event]) -> None:
        if not events:
            return
        self._insert(
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
        self._insert(
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
