"""Webhook intake on its own asyncpg pool, without SQLAlchemy: the acknowledgement waits for this
transaction, so it costs three round trips (begin with the tenant scope, one statement writing the inbox
and the outbox, commit) instead of one per statement, and no per-row SQLAlchemy processing."""

from __future__ import annotations

import contextlib

import asyncpg  # type: ignore[import-untyped]
import msgspec

from adapters.postgres.engine import APP_ROLE, to_asyncpg_url
from application.errors import ServiceUnavailable
from application.observability import correlation_id_var
from application.ports.tasks import Task
from domain.channels.inbox import InboxEntry
from domain.common.ids import TenantId

# Rows arrive as one array per column. A task's outbox row is written only when its entry was new
# (the insert returned it), in the order given: `seq` is the order the worker handles them in.
_STORE_NEW = """
WITH new_entries AS (
  INSERT INTO inbox (tenant_id, id, channel_id, kind, provider_event_key, contact_id, payload, received_at)
  SELECT $1, e.id, e.channel_id, e.kind, e.provider_event_key, e.contact_id, e.payload::jsonb, e.received_at
  FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
    AS e (id, channel_id, kind, provider_event_key, contact_id, payload, received_at)
  ON CONFLICT (tenant_id, channel_id, provider_event_key) DO NOTHING
  RETURNING id
), staged AS (
  INSERT INTO outbox (tenant_id, id, kind, aggregate_key, type, payload, correlation_id)
  SELECT $1, t.id, 'task', t.aggregate_key, t.type, t.payload::jsonb, t.correlation_id
  FROM unnest($9::uuid[], $10::uuid[], $11::text[], $12::text[], $13::text[], $14::text[]) WITH ORDINALITY
    AS t (entry_id, id, aggregate_key, type, payload, correlation_id, position)
  WHERE t.entry_id IN (SELECT id FROM new_entries)
  ORDER BY t.position
)
SELECT id FROM new_entries
"""

_CONNECTION_ERRORS = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)


def _begin_in_tenant_scope(tenant_id: TenantId) -> str:
    # BEGIN and the row-level security scope in one simple-query round trip; simple queries take no
    # parameters, and the only value spliced in is a UUID's own canonical text.
    return (
        f"BEGIN; SELECT set_config('role', '{APP_ROLE}', true), set_config('app.tenant_id', '{tenant_id}', true),"
        " set_config('app.bypass_rls', 'off', true)"
    )


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Released connections are not reset: every setting here is transaction-local and the transaction
    has ended by then (asyncpg rolls back one still open), so the reset would only cost a round trip."""


class PostgresInboxIntake:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._encode = msgspec.json.Encoder().encode

    @classmethod
    async def connect(cls, database_url: str, *, max_connections: int = 8) -> PostgresInboxIntake:
        # Connections are opened on first use, so a database that is down does not stop start-up.
        dsn = to_asyncpg_url(database_url).replace("postgresql+asyncpg://", "postgresql://", 1)
        pool = await asyncpg.create_pool(dsn, min_size=0, max_size=max_connections, reset=_keep_session)
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    async def store_new(self, tenant_id: TenantId, entries: list[tuple[InboxEntry, Task]]) -> list[InboxEntry]:
        if not entries:
            return []
        encode = self._encode
        correlation_id = correlation_id_var.get()
        arguments = (
            tenant_id,
            [entry.id for entry, _ in entries],
            [entry.channel_id for entry, _ in entries],
            [str(entry.kind) for entry, _ in entries],
            [entry.provider_event_key for entry, _ in entries],
            [entry.contact_id for entry, _ in entries],
            [encode(entry.payload).decode() for entry, _ in entries],
            [entry.received_at for entry, _ in entries],
            [entry.id for entry, _ in entries],
            [task.id for _, task in entries],
            [task.ordering_key or f"task:{task.id}" for _, task in entries],
            [task.name for _, task in entries],
            [encode(task.envelope()).decode() for _, task in entries],
            [task.correlation_id or correlation_id for _, task in entries],
        )
        try:
            connection = await self._pool.acquire()
        except _CONNECTION_ERRORS as error:
            raise ServiceUnavailable("the database is not reachable") from error
        try:
            try:
                await connection.execute(_begin_in_tenant_scope(tenant_id))
            except _CONNECTION_ERRORS as error:
                raise ServiceUnavailable("the database is not reachable") from error
            rows = await connection.fetch(_STORE_NEW, *arguments)
            await connection.execute("COMMIT")
        except BaseException:
            if not connection.is_closed() and connection.is_in_transaction():
                # Best effort: a connection that cannot even roll back is discarded on release.
                with contextlib.suppress(Exception):
                    await connection.execute("ROLLBACK")
            raise
        finally:
            await self._pool.release(connection)
        new_ids = {row[0] for row in rows}
        return [entry for entry, _ in entries if entry.id in new_ids]
