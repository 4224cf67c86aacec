"""In-process rate limiting for embedded mode (no REDIS_URL): fixed windows in a dict."""

from __future__ import annotations

import math
import time

from application.ports.rate_limiter import RateDecision, RateRule

_SWEEP_ABOVE = 100_000


class MemoryRateLimiter:
    def __init__(self) -> None:
        # (rule key, window end) -> hits in that window
        self._counters: dict[tuple[str, float], int] = {}

    async def hit(self, rules: list[RateRule]) -> RateDecision:
        now = time.time()
        retry_after = 0
        for rule in rules:
            window_end = (now // rule.window_seconds + 1) * rule.window_seconds
            key = (rule.key, window_end)
            count = self._counters.get(key, 0) + 1
            self._counters[key] = count
            if count > rule.limit:
                retry_after = max(retry_after, math.ceil(window_end - now))
        if len(self._counters) > _SWEEP_ABOVE:
            self._counters = {key: count for key, count in self._counters.items() if key[1] > now}
        return RateDecision(allowed=retry_after == 0, retry_after_seconds=retry_after)


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
