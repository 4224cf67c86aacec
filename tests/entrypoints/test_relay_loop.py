"""RelayLoop's rhythm: a round per wake-up, and for a gathering relay one round for the commits of a while."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from application.events.relay_outbox import RelayOutboxResult
from application.ports.events import OutboxKind
from entrypoints.worker.relay import RelayLoop


class CountingRelay(RelayLoop):
    def __init__(self, wake: asyncio.Event, **options: Any) -> None:
        super().__init__(None, OutboxKind.EVENT, batch=10, wake=wake, poll_seconds=60, **options)  # type: ignore[arg-type]
        self.rounds = 0

    async def relay_once(self) -> RelayOutboxResult:
        self.rounds += 1
        return RelayOutboxResult(relayed=1)


async def rounds_for_three_commits(**options: Any) -> int:
    wake = asyncio.Event()
    relay = CountingRelay(wake, **options)
    running = asyncio.create_task(relay.run())
    await asyncio.sleep(0.01)  # the round at start
    for _ in range(3):
        wake.set()
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.6)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    return relay.rounds


async def test_commits_within_the_gathering_pause_share_one_round() -> None:
    assert await rounds_for_three_commits() == 4
    assert await rounds_for_three_commits(gather_seconds=0.5) == 2
