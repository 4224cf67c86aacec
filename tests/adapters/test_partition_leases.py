"""PostgresPartitionLeases: a partition has one holder across processes (each instance stands for a worker
process), members are counted per namespace, and a closed or lost session frees everything it held."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from adapters.postgres.engine import CONNECTION_ERRORS
from adapters.postgres.partition_leases import PostgresPartitionLeases


@pytest.fixture
async def processes(database_url: str) -> AsyncIterator[list[PostgresPartitionLeases]]:
    leases = [PostgresPartitionLeases(database_url, namespace="leases-test") for _ in range(2)]
    for lease in leases:
        await lease.reconnect()
    yield leases
    for lease in leases:
        await lease.close()


async def test_a_partition_has_one_holder_until_it_is_given_up(processes: list[PostgresPartitionLeases]) -> None:
    first, second = processes
    assert await first.take(3)
    assert not await second.take(3)
    assert await second.take(4)

    await first.give_up(3)
    assert await second.take(3)
    assert not await first.take(3)


async def test_members_are_counted_per_namespace(processes: list[PostgresPartitionLeases], database_url: str) -> None:
    first, _ = processes
    assert await first.members() == 2

    elsewhere = PostgresPartitionLeases(database_url, namespace="another-namespace")
    await elsewhere.reconnect()
    try:
        assert await first.members() == 2
        assert await elsewhere.members() == 1
        # Partition numbers of another namespace are other leases.
        assert await first.take(0)
        assert await elsewhere.take(0)
    finally:
        await elsewhere.close()


async def test_a_closed_session_frees_its_partitions_and_its_membership(
    processes: list[PostgresPartitionLeases],
) -> None:
    first, second = processes
    assert await first.take(1)
    await first.close()

    assert await second.members() == 1
    assert await second.take(1)
    with pytest.raises(ConnectionError):
        await first.take(2)


async def test_a_session_killed_by_the_server_frees_its_partitions_and_fails_its_next_call(
    processes: list[PostgresPartitionLeases], db: asyncpg.Connection
) -> None:
    first, second = processes
    assert await first.take(5)
    await db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_locks"
        " WHERE locktype = 'advisory' AND objsubid = 2 AND objid = 5 AND granted"
    )

    assert await second.take(5)
    with pytest.raises((*CONNECTION_ERRORS, asyncpg.PostgresError)):
        await first.take(6)
    await first.reconnect()
    assert await first.members() == 2
    assert await first.take(6)
