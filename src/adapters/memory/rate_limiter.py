"""In-process rate limiting for embedded mode (no REDIS_URL): sliding windows over counters in a dict."""

from __future__ import annotations

import time
from collections.abc import Callable

from application.ports.rate_limiter import RateDecision, RateRule
from application.rate_limiting import WindowPosition, retry_after

_SWEEP_ABOVE = 100_000


class MemoryRateLimiter:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        # (rule key, window seconds, window number) -> hits in that window
        self._counters: dict[tuple[str, int, int], int] = {}

    async def hit(self, rules: list[RateRule]) -> RateDecision:
        now = self._clock()
        wait = 0
        for rule in rules:
            position = WindowPosition.of(rule, now)
            key = (rule.key, rule.window_seconds, position.index)
            current = self._counters.get(key, 0) + 1
            self._counters[key] = current
            previous = self._counters.get((rule.key, rule.window_seconds, position.index - 1), 0)
            wait = max(wait, retry_after(rule, position, previous, current))
        if len(self._counters) > _SWEEP_ABOVE:
            # Windows before the previous one no longer count.
            self._counters = {key: count for key, count in self._counters.items() if (key[2] + 2) * key[1] > now}
        return RateDecision(allowed=wait == 0, retry_after_seconds=wait)


class MemoryNonceStore:
    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}

    async def claim(self, nonce: str, ttl_seconds: int) -> bool:
        now = time.monotonic()
        if len(self._expiry) > _SWEEP_ABOVE:
            self._expiry = {key: until for key, until in self._expiry.items() if until > now}
        until = self._expiry.get(nonce)
        if until is not None and until > now:
            return False
        self._expiry[nonce] = now + ttl_seconds
        return True


class MemorySendPacer:
    """Send slots for one process (embedded mode); reserved before the wait, so concurrent senders queue
    fairly without a lock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._next_slot: dict[str, float] = {}

    async def reserve(self, key: str, per_second: float) -> float:
        now = self._clock()
        slot = max(now, self._next_slot.get(key, now))
        self._next_slot[key] = slot + 1.0 / per_second
        return slot - now
