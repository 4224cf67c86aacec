"""The database pool of a worker process keeps a connection for each task partition it may run at once."""

from __future__ import annotations

import asyncio

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.engine import DEFAULT_POOL_SIZE
from entrypoints.ioc.containers import make_http_container, make_worker_container
from entrypoints.settings import Settings
from entrypoints.worker.registry import WorkerHandlers

PARTITIONS = 24


async def _server_pids_at_once(engine: AsyncEngine, count: int) -> set[int]:
    """The server processes behind `count` connections checked out together, then all returned."""
    all_held, release = asyncio.Event(), asyncio.Event()
    pids: set[int] = set()

    async def hold_one() -> None:
        async with engine.connect() as connection:
            pids.add((await connection.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())
            if len(pids) == count:
                all_held.set()
            await release.wait()

    holders = [asyncio.create_task(hold_one()) for _ in range(count)]
    await all_held.wait()
    release.set()
    await asyncio.gather(*holders)
    return pids


async def test_a_worker_reuses_a_connection_per_task_partition(settings: Settings) -> None:
    settings = attrs.evolve(settings, events=attrs.evolve(settings.events, task_partitions=PARTITIONS))
    container = make_worker_container(settings, handlers=WorkerHandlers())
    try:
        engine = await container.get(AsyncEngine)
        first = await _server_pids_at_once(engine, PARTITIONS)
        # As many tasks at once again: the same server processes serve them, none is started anew.
        assert await _server_pids_at_once(engine, PARTITIONS) == first
    finally:
        await container.close()


async def test_the_api_pool_does_not_grow_with_task_partitions(settings: Settings) -> None:
    settings = attrs.evolve(settings, events=attrs.evolve(settings.events, task_partitions=PARTITIONS))
    container = make_http_container(settings)
    try:
        engine = await container.get(AsyncEngine)
        assert engine.pool.size() == DEFAULT_POOL_SIZE  # type: ignore[attr-defined]
    finally:
        await container.close()
