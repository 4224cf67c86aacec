"""Health probes for the dependencies the platform talks to."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from application.ports.health import DependencyStatus


class CallableProbe:
    """Healthy when the check coroutine returns without raising; latency is measured around it."""

    def __init__(self, name: str, check: Callable[[], Awaitable[object]], *, required: bool, mode: str) -> None:
        self.name = name
        self.required = required
        self._check = check
        self._mode = mode

    async def check(self) -> DependencyStatus:
        started = time.perf_counter()
        try:
            await self._check()
        except Exception as error:
            return DependencyStatus(
                self.name, False, self.required, (time.perf_counter() - started) * 1000, type(error).__name__
            )
        return DependencyStatus(self.name, True, self.required, (time.perf_counter() - started) * 1000, self._mode)


async def always_ready() -> None:
    """In-process dependencies (embedded event transport, memory rate limits) are up while we are."""
