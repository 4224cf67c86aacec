"""Webhook intake on its own asyncpg pool, without SQLAlchemy: the acknowledgement waits for this write,
so it is one statement (inbox and outbox together) committed on its own, one round trip.

The pool's connections do nothing else, so their row-level security scope is set for the session, not
per transaction: the app role when a connection opens, the tenant when the connection last wrote for
another tenant (one more round trip). Row-level security still checks every row against that tenant,
so a scope that were ever wrong would fail the write, never store rows under another tenant.
"""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
import msgspec

from adapters.postgres.engine import APP_ROLE, CONNECTION_ERRORS, to_asyncpg_url
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

_SESSION_SCOPE = "SELECT set_config('role', $1, false), set_config('app.bypass_rls', 'off', false)"
_TENANT_SCOPE = "SELECT set_config('app.tenant_id', $1, false)"


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Released connections keep their session: its scope is what saves the round trips (asyncpg
    still rolls back a transaction left open, though none is ever opened here)."""


class PostgresInboxIntake:
    def __init__(self, database_url: str, *, max_connections: int = 8) -> None:
        self._dsn = to_asyncpg_url(database_url).replace("postgresql+asyncpg://", "postgresql://", 1)
        self._max_connections = max_connections
        self._pool: asyncpg.Pool | None = None
        # The tenant each open connection (by server process id) is scoped to.
        self._tenant_of: dict[int, TenantId] = {}
        self._encode = msgspec.json.Encoder().encode

    async def start(self) -> None:
        # Connections are opened on first use, so a database that is down does not stop start-up.
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=0, max_size=self._max_connections, init=self._open_session, reset=_keep_session
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def _open_session(self, connection: asyncpg.Connection) -> None:
        await connection.execute(_SESSION_SCOPE, APP_ROLE)
        pid: int = connection.get_server_pid()
        # A new connection may reuse a closed one's process id: nothing is known about its tenant yet.
        self._tenant_of.pop(pid, None)
        connection.add_termination_listener(lambda _: self._tenant_of.pop(pid, None))

    async def store_new(self, tenant_id: TenantId, entries: list[tuple[InboxEntry, Task]]) -> list[InboxEntry]:
        if not entries:
            return []
        if self._pool is None:
            raise RuntimeError("the inbox intake is used before start()")
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
        except CONNECTION_ERRORS as error:
            raise ServiceUnavailable("the database is not reachable") from error
        try:
            pid = connection.get_server_pid()
            if self._tenant_of.get(pid) != tenant_id:
                self._tenant_of.pop(pid, None)
                await connection.execute(_TENANT_SCOPE, str(tenant_id))
                self._tenant_of[pid] = tenant_id
            # Outside any explicit transaction: the statement commits on its own before it answers.
            rows = await connection.fetch(_STORE_NEW, *arguments)
        except CONNECTION_ERRORS as error:
            # Committed or not is unknown: the webhook is not acknowledged, and the redelivery is deduplicated.
            raise ServiceUnavailable("the database is not reachable") from error
        finally:
            await self._pool.release(connection)
        new_ids = {row[0] for row in rows}
        return [entry for entry, _ in entries if entry.id in new_ids]
