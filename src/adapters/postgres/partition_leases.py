"""Which task partitions a worker process may consume, decided through PostgreSQL session advisory locks.

A task partition is consumed by the one process holding its lease, so the tasks of one ordering key (they all go
to one partition) run one at a time across processes without a lock per task. Every worker process holds a
membership lock too; counting those in `pg_locks` tells each process how many share the partitions. All of a
process's locks live on one connection: when the process dies or loses that connection, PostgreSQL releases
them, and the others take its partitions over.
"""

from __future__ import annotations

import random

import asyncpg  # type: ignore[import-untyped]

from adapters.postgres.engine import to_driver_dsn

_TRY_LOCK = "SELECT pg_try_advisory_lock(hashtext($1), $2)"
# Advisory locks of the two-key form show their keys as classid and objid, with objsubid 2.
_COUNT_MEMBERS = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 2
  AND classid = hashtext($1)::oid
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
_GIVE_UP = "SELECT pg_advisory_unlock(hashtext($1), $2)"


class PostgresPartitionLeases:
    """One process's leases on the task partitions of a RabbitMQ namespace, on a connection of their own.

    Any database error means the connection and every lock on it may be gone: the caller stops consuming
    and calls `reconnect` before taking leases again."""

    def __init__(self, database_url: str, *, namespace: str) -> None:
        self._dsn = to_driver_dsn(database_url)
        self._members_key = f"{namespace}:task-consumers"
        self._partitions_key = f"{namespace}:task-partitions"
        self._connection: asyncpg.Connection | None = None

    async def reconnect(self) -> None:
        """A fresh session (the old one's locks go with it), counted as a member of the group."""
        await self.close()
        connection = await asyncpg.connect(self._dsn)
        try:
            # A random member id; another process drawing the same one only makes this draw again.
            while not await connection.fetchval(_TRY_LOCK, self._members_key, random.randrange(1, 2**31)):
                pass
        except BaseException:
            connection.terminate()
            raise
        self._connection = connection

    @property
    def joined(self) -> bool:
        """Whether this process has a session, and with it its membership (a broken one shows on its next call)."""
        return self._connection is not None and not self._connection.is_closed()

    async def members(self) -> int:
        """How many worker processes share the partitions now, this one included."""
        count: int = await self._session().fetchval(_COUNT_MEMBERS, self._members_key)
        return count

    async def take(self, partition: int) -> bool:
        """The partition's lease, if no other process holds it."""
        taken: bool = await self._session().fetchval(_TRY_LOCK, self._partitions_key, partition)
        return taken

    async def give_up(self, partition: int) -> None:
        await self._session().fetchval(_GIVE_UP, self._partitions_key, partition)

    async def close(self) -> None:
        """Every lease and the membership go with the session."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()

    def _session(self) -> asyncpg.Connection:
        if not self.joined:
            raise ConnectionError("the partition leases' session is gone")
        return self._connection
