"""The worker's shutdown is bounded: a loop that does not stop when cancelled is named in the log, with where it
is stuck, and the rest of the worker still stops."""

from __future__ import annotations

import asyncio
import logging

import pytest
from dishka import AsyncContainer

from entrypoints.settings import Settings
from entrypoints.worker import runtime
from entrypoints.worker.registry import WorkerHandlers
from tests.support.worker import running_worker, worker_settings


async def test_a_loop_that_ignores_its_cancellation_is_named_and_the_worker_still_stops(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(runtime, "SHUTDOWN_GRACE_SECONDS", 0.3)
    started = asyncio.Event()

    async def stuck_call(_: AsyncContainer) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            # As a call that swallows the cancellation and keeps waiting would.
            await asyncio.sleep(3600)

    handlers = WorkerHandlers()
    handlers.periodic.every(0.01, "stuck job", stuck_call)

    async def run_and_stop() -> None:
        async with running_worker(worker_settings(settings, None), handlers):
            await asyncio.wait_for(started.wait(), 10)

    with caplog.at_level(logging.ERROR, logger=runtime.__name__):
        await asyncio.wait_for(run_and_stop(), 30)

    [stuck] = [record for record in caplog.records if record.getMessage() == "worker loop did not stop"]
    assert stuck.loop == "stuck job"
    assert "stuck_call" in stuck.at
    for task in asyncio.all_tasks():
        if task.get_name() == "stuck job":
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
