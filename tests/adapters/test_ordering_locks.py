"""PostgresOrderingLocks: one holder per key across processes (each instance stands for a worker process), the
waiters let in in the order they asked, other keys never held up, and a lock gone with its block however the
block ended."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from adapters.postgres.ordering_locks import PostgresOrderingLocks

KEY = "contact:channel:+15550001"


@pytest.fixture
async def workers(database_url: str) -> AsyncIterator[list[PostgresOrderingLocks]]:
    locks = [PostgresOrderingLocks(database_url, max_connections=4) for _ in range(3)]
    for lock in locks:
        await lock.start()
    yield locks
    for lock in locks:
        await lock.close()


async def waiting_for_locks(db: asyncpg.Connection, count: int) -> None:
    for _ in range(500):
        if await db.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never saw {count} waiting for an advisory lock")


async def test_a_key_has_one_holder_and_its_waiters_enter_in_the_order_they_asked(
    workers: list[PostgresOrderingLocks], db: asyncpg.Connection
) -> None:
    first, second, third = workers
    entered: list[str] = []
    release = asyncio.Event()

    async def hold(locks: PostgresOrderingLocks, name: str, until: asyncio.Event | None = None) -> None:
        async with locks.holding(KEY):
            entered.append(name)
            if until is not None:
                await until.wait()

    holder = asyncio.create_task(hold(first, "first", release))
    await asyncio.sleep(0.05)
    third_task = asyncio.create_task(hold(third, "third"))
    await waiting_for_locks(db, 1)
    second_task = asyncio.create_task(hold(second, "second"))
    await waiting_for_locks(db, 2)
    assert entered == ["first"]

    release.set()
    await asyncio.gather(holder, third_task, second_task)
    assert entered == ["first", "third", "second"]


async def test_other_keys_are_not_held_up(workers: list[PostgresOrderingLocks]) -> None:
    first, second, _ = workers
    async with first.holding(KEY), asyncio.timeout(5), second.holding("contact:channel:+15550002"):
        pass


async def test_a_block_that_raised_leaves_the_key_free(workers: list[PostgresOrderingLocks]) -> None:
    first, second, _ = workers
    with pytest.raises(RuntimeError):
        async with first.holding(KEY):
            raise RuntimeError("the handler failed")
    async with asyncio.timeout(5), second.holding(KEY):
        pass


async def test_a_waiter_cancelled_while_waiting_leaves_no_lock_behind(
    workers: list[PostgresOrderingLocks], db: asyncpg.Connection
) -> None:
    first, second, third = workers
    release = asyncio.Event()

    async def hold() -> None:
        async with first.holding(KEY):
            await release.wait()

    async def wait_in_vain() -> None:
        async with second.holding(KEY):
            raise AssertionError("a cancelled waiter must not get in")

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0.05)
    waiter = asyncio.create_task(wait_in_vain())
    await waiting_for_locks(db, 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    release.set()
    await holder
    async with asyncio.timeout(5), third.holding(KEY):
        pass
