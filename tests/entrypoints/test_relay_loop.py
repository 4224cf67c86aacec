"""RelayLoop's rhythm: a round per commit on a quiet outbox; under load, rounds at most once an interval."""

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


async def rounds_for_commits(wake_after: list[float], **options: Any) -> int:
    """Rounds run for commits notifying at the given moments (seconds after the round at start)."""
    wake = asyncio.Event()
    relay = CountingRelay(wake, **options)
    running = asyncio.create_task(relay.run())
    elapsed = 0.0
    for moment in wake_after:
        await asyncio.sleep(moment - elapsed)
        elapsed = moment
        wake.set()
    await asyncio.sleep(0.15)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    return relay.rounds


async def test_commits_within_the_interval_share_one_round() -> None:
    assert await rounds_for_commits([0.05, 0.1, 0.15]) == 4
    # The round at start, then one for all three once the interval has passed.
    assert await rounds_for_commits([0.05, 0.1, 0.15], round_interval_seconds=0.2) == 2


async def test_a_commit_after_a_quiet_interval_is_relayed_at_once() -> None:
    wake = asyncio.Event()
    relay = CountingRelay(wake, round_interval_seconds=0.2)
    running = asyncio.create_task(relay.run())
    await asyncio.sleep(0.3)
    wake.set()
    await asyncio.sleep(0.05)
    rounds = relay.rounds
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert rounds == 2
