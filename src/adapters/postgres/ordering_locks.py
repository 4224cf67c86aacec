"""Tasks of one ordering key, one at a time across worker processes.

Each worker process consumes every task partition with prefetch 1, so a partition queue with consumers in two
processes hands its next task to the second while the first is still busy: two tasks of one key (two messages
of one contact, a message and its conversation's turn) would run at once. Each task therefore holds its key's
session-level advisory lock while it runs. PostgreSQL grants a lock's waiters in the order they asked, so the
key's tasks still run in order once they are waiting; the inbox puts a contact's events in arrival order
itself (ProcessInboxEntry handles older pending events first), which covers a later task asking first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg  # type: ignore[import-untyped]

from adapters.postgres.engine import CONNECTION_ERRORS, to_driver_dsn
from application.errors import ServiceUnavailable

# Advisory-lock namespace of task ordering keys (first key of the two-key form), apart from the relay's.
ORDERING_LOCK_SPACE = 0x6D6F  # "mo"

_LOCK = "SELECT pg_advisory_lock($1, hashtext($2))"
_UNLOCK = "SELECT pg_advisory_unlock($1, hashtext($2))"


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Nothing to reset on release: the block's end unlocked what it locked (asyncpg's own reset would cost a
    round trip of four statements per task)."""


async def _run(connection: asyncpg.Connection, statement: str, key: str) -> None:
    """Lock or unlock; should it fail or be cancelled, whether the lock is held is unknown: the session goes,
    and the lock with it."""
    try:
        await connection.execute(statement, ORDERING_LOCK_SPACE, key)
    except BaseException:
        connection.terminate()
        raise


class PostgresOrderingLocks:
    """A connection per held key: the lock lives as long as its session holds it, and is unlocked by the block's
    end, however the block ended; a connection whose unlock did not go through is closed, which releases the
    lock with its session (a lost connection releases it the same way)."""

    def __init__(self, database_url: str, *, max_connections: int) -> None:
        self._dsn = to_driver_dsn(database_url)
        self._max_connections = max_connections
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        # Opened on first use, so a database that is down does not stop start-up.
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=0, max_size=self._max_connections, reset=_keep_session
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    @asynccontextmanager
    async def holding(self, key: str) -> AsyncIterator[None]:
        """Wait for the key's lock (behind the tasks that asked before), hold it inside the block."""
        if self._pool is None:
            raise RuntimeError("the ordering locks are used before start()")
        try:
            connection = await self._pool.acquire()
        except CONNECTION_ERRORS as error:
            raise ServiceUnavailable("the database is not reachable") from error
        try:
            try:
                await _run(connection, _LOCK, key)
            except CONNECTION_ERRORS as error:
                raise ServiceUnavailable("the database is not reachable") from error
            try:
                yield
            finally:
                await _run(connection, _UNLOCK, key)
        finally:
            await self._pool.release(connection)
