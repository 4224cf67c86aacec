"""The relay's side of the outbox: claim committed rows, mark them published, prune old ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from adapters.postgres.engine import APP_ROLE, roll_back_or_discard, to_asyncpg_url
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

# The relay's transaction, begun together with its settings in one round trip (a simple-protocol query;
# every value is a constant of ours): platform scope, and no sequential scans, so the mark below is
# planned as a TID scan of the claimed rows (the planner otherwise prices a scan of the whole outbox lower).
_BEGIN_RELAY = (
    f"BEGIN; SELECT set_config('role', '{APP_ROLE}', true), set_config('app.tenant_id', '', true),"
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
_CLAIM = """
    WITH candidates AS MATERIALIZED (
      SELECT tenant_id, id, seq, aggregate_key FROM outbox
      WHERE published_at IS NULL AND kind = $1
      ORDER BY seq
      LIMIT $2
    ), lockable AS MATERIALIZED (
      SELECT tenant_id, id, seq FROM candidates
      WHERE pg_try_advisory_xact_lock($3, hashtext(aggregate_key))
    )
    SELECT o.ctid AS row_id, (SELECT count(*) FROM candidates) AS candidates, o.tenant_id, o.aggregate_key,
      o.payload::text AS payload, o.correlation_id,
      EXISTS (
        SELECT 1 FROM webhook_subscriptions s WHERE s.tenant_id = o.tenant_id AND s.active
      ) AS tenant_has_webhooks
    FROM outbox o JOIN lockable l ON o.tenant_id = l.tenant_id AND o.id = l.id
    WHERE o.published_at IS NULL
    ORDER BY l.seq
    FOR UPDATE OF o SKIP LOCKED
"""

# By the physical row ids of the claimed rows: they are locked by this transaction, so the ids cannot
# change, and a TID scan costs the batch, not the table (a join on the keys was planned as a hash join
# over the whole outbox, growing with every published row kept). Sent with the COMMIT in one round trip,
# so the ids are written into the text; they are pairs of integers read from Postgres.
_MARK_AND_COMMIT = "UPDATE outbox SET published_at = now() WHERE ctid = ANY('{{{row_ids}}}'::tid[]); COMMIT"

# Asked only when a claim came back empty: were there rows, held by other relays?
_ANY_PENDING = "SELECT EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL AND kind = $1)"


class PostgresOutboxClaim:
    def __init__(
        self,
        connection: AsyncConnection,
        driver: Any,
        cipher: SecretCipher,
        rows: list[Any],
        busy: bool,
        limit: int,
    ) -> None:
        self._driver = driver
        self._rows = rows
        self.busy = busy
        self.window_full = bool(rows) and rows[0]["candidates"] >= limit
        self.committed = False
        self.events: list[Event] = []
        self.tasks: list[Task] = []
        self.webhook_tenants: set[TenantId] = {TenantId(row["tenant_id"]) for row in rows if row["tenant_has_webhooks"]}
        # In the relay's transaction: the connection runs in autocommit mode, the transaction is ours.
        self.webhooks = PostgresWebhookRepository(connection, cipher)

    async def mark_published(self) -> None:
        if self._rows:
            row_ids = ",".join(
                f'"({int(block)},{int(offset)})"' for block, offset in (row["row_id"] for row in self._rows)
            )
            await self._driver.execute(_MARK_AND_COMMIT.format(row_ids=row_ids))
        else:
            await self._driver.execute("COMMIT")
        self.committed = True


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
        # Statements go straight to the driver, with BEGIN and the COMMIT sharing round trips with the
        # relay's other statements (five round trips per claim were most of its cost in small batches).
        # SQLAlchemy's connection stays in autocommit mode so it begins nothing itself: the webhook
        # repository's statements run inside the transaction begun here.
        async with self._engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            driver: Any = (await connection.get_raw_connection()).driver_connection
            claim: PostgresOutboxClaim | None = None
            try:
                await driver.execute(_BEGIN_RELAY)
                rows = await driver.fetch(_CLAIM, kind.value, limit, RELAY_LOCK_SPACE)
                busy = not rows and bool(await driver.fetchval(_ANY_PENDING, kind.value))
                claim = PostgresOutboxClaim(connection, driver, self._cipher, rows, busy, limit)
                for row in rows:
                    envelope = msgspec.json.decode(row["payload"])
                    if kind is OutboxKind.EVENT:
                        claim.events.append(
                            Event.from_envelope(
                                envelope, aggregate_key=row["aggregate_key"], correlation_id=row["correlation_id"]
                            )
                        )
                    else:
                        claim.tasks.append(Task.from_envelope(envelope))
                yield claim
            finally:
                if claim is None or not claim.committed:
                    # Frees every row and aggregate lock for the next attempt.
                    await roll_back_or_discard(connection, driver)

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
