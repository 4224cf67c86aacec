"""The relay's side of the outbox: claim committed rows, mark them published, prune old ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from adapters.postgres.engine import APP_ROLE, to_asyncpg_url
from adapters.postgres.repositories.webhooks import PostgresWebhookRepository
from adapters.postgres.tables import dead_letters
from application.ports.events import DeadLetter, OutboxKind
from application.ports.security import SecretCipher
from application.ports.tasks import Task
from domain.common.ids import TenantId, new_id
from domain.events import Event

_PLATFORM_SCOPE = sa.text(
    "SELECT set_config('role', :role, true), set_config('app.tenant_id', '', true),"
    " set_config('app.bypass_rls', 'on', true)"
)

# The relay's transaction: platform scope, and no sequential scans, so the mark below is planned as a
# TID scan of the claimed rows (the planner otherwise prices a scan of the whole outbox lower).
_RELAY_SCOPE = sa.text(
    "SELECT set_config('role', :role, true), set_config('app.tenant_id', '', true),"
    " set_config('app.bypass_rls', 'on', true), set_config('enable_seqscan', 'off', true)"
)

# Advisory-lock namespace of the relay (first key of the two-key form), so its per-aggregate locks
# never collide with other advisory locks.
RELAY_LOCK_SPACE = 0x6D63  # "mc"

# The first `limit` pending rows of one kind, locked row by row (SKIP LOCKED: another relay's rows are
# passed over) and aggregate by aggregate: a transaction-scoped advisory lock per aggregate key means
# that while one relay holds any row of an aggregate, no other relay publishes a later row of it.
# Both steps are materialised so the lock function only ever runs on those `limit` candidates (left to
# itself the planner would filter every pending row with it, locking aggregates it never returns).
_CLAIM = sa.text(
    """
    WITH candidates AS MATERIALIZED (
      SELECT tenant_id, id, seq, aggregate_key FROM outbox
      WHERE published_at IS NULL AND kind = :kind
      ORDER BY seq
      LIMIT :limit
    ), lockable AS MATERIALIZED (
      SELECT tenant_id, id, seq FROM candidates
      WHERE pg_try_advisory_xact_lock(:lock_space, hashtext(aggregate_key))
    )
    SELECT o.ctid AS row_id, o.tenant_id, o.aggregate_key, o.payload::text AS payload, o.correlation_id,
      EXISTS (
        SELECT 1 FROM webhook_subscriptions s WHERE s.tenant_id = o.tenant_id AND s.active
      ) AS tenant_has_webhooks
    FROM outbox o JOIN lockable l ON o.tenant_id = l.tenant_id AND o.id = l.id
    WHERE o.published_at IS NULL
    ORDER BY l.seq
    FOR UPDATE OF o SKIP LOCKED
    """
)

# By the physical row ids of the claimed rows: they are locked by this transaction, so the ids cannot
# change, and a TID scan costs the batch, not the table (a join on the keys was planned as a hash join
# over the whole outbox, growing with every published row kept).
_MARK = sa.text("UPDATE outbox SET published_at = now() WHERE ctid = ANY(CAST(:row_ids AS tid[]))")

# Asked only when a claim came back empty: were there rows, held by other relays?
_ANY_PENDING = sa.text("SELECT EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL AND kind = :kind)")


class PostgresOutboxClaim:
    def __init__(
        self, connection: AsyncConnection, cipher: SecretCipher, rows: list[sa.Row[tuple[object, ...]]], busy: bool
    ) -> None:
        self._connection = connection
        self._rows = rows
        self.busy = busy
        self.events: list[Event] = []
        self.tasks: list[Task] = []
        self.webhook_tenants: set[TenantId] = {TenantId(row.tenant_id) for row in rows if row.tenant_has_webhooks}
        self.webhooks = PostgresWebhookRepository(connection, cipher)

    async def mark_published(self) -> None:
        if self._rows:
            await self._connection.execute(_MARK, {"row_ids": [row.row_id for row in self._rows]})
        await self._connection.commit()


def make_relay_engine(database_url: str) -> AsyncEngine:
    """The relay's own small pool, without pre-ping: the ping is a round trip on every claim (measured:
    ~40 % of Postgres' CPU per relayed event in small batches), while a connection gone stale after a
    database restart only fails one relay round, which the relay retries anyway."""
    return create_async_engine(
        to_asyncpg_url(database_url), pool_size=4, max_overflow=4, pool_pre_ping=False, pool_recycle=1800
    )


class PostgresOutboxFeed:
    def __init__(self, engine: AsyncEngine, cipher: SecretCipher) -> None:
        self._engine = engine
        self._cipher = cipher

    @asynccontextmanager
    async def claim(self, kind: OutboxKind, limit: int) -> AsyncIterator[PostgresOutboxClaim]:
        # Leaving the block without mark_published closes the connection, which rolls back and frees
        # every row and aggregate lock for the next attempt.
        async with self._engine.connect() as connection:
            await connection.execute(_RELAY_SCOPE, {"role": APP_ROLE})
            rows = list(
                await connection.execute(_CLAIM, {"kind": kind.value, "limit": limit, "lock_space": RELAY_LOCK_SPACE})
            )
            busy = not rows and bool((await connection.execute(_ANY_PENDING, {"kind": kind.value})).scalar())
            claim = PostgresOutboxClaim(connection, self._cipher, rows, busy)
            for row in rows:
                envelope = msgspec.json.decode(row.payload)
                if kind is OutboxKind.EVENT:
                    claim.events.append(
                        Event.from_envelope(
                            envelope, aggregate_key=row.aggregate_key, correlation_id=row.correlation_id
                        )
                    )
                else:
                    claim.tasks.append(Task.from_envelope(envelope))
            yield claim

    async def prune(self, *, published_before_seconds: float) -> int:
        async with self._engine.connect() as connection:
            await connection.execute(_PLATFORM_SCOPE, {"role": APP_ROLE})
            result = await connection.execute(
                sa.text("DELETE FROM outbox WHERE published_at < now() - make_interval(secs => :age)"),
                {"age": published_before_seconds},
            )
            # Dedupe records only matter while a copy can still arrive, i.e. within the same horizon.
            await connection.execute(
                sa.text("DELETE FROM processed_messages WHERE processed_at < now() - make_interval(secs => :age)"),
                {"age": published_before_seconds},
            )
            await connection.commit()
        return int(result.rowcount)


class PostgresDeadLetters:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, letter: DeadLetter) -> None:
        async with self._engine.connect() as connection:
            await connection.execute(_PLATFORM_SCOPE, {"role": APP_ROLE})
            await connection.execute(
                dead_letters.insert().values(
                    tenant_id=letter.tenant_id,
                    id=new_id(),
                    kind=letter.kind,
                    type=letter.type,
                    payload=letter.envelope,
                    error=letter.error[:2000],
                )
            )
            await connection.commit()
