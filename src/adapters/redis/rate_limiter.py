"""Redis-backed fixed-window rate limits and replay nonces, shared by every API process."""

from __future__ import annotations

import math
import time

from redis.asyncio import Redis

from application.ports.rate_limiter import RateDecision, RateRule


class RedisRateLimiter:
    def __init__(self, client: Redis, namespace: str = "metachat:rl") -> None:
        self._client = client
        self._namespace = namespace

    async def hit(self, rules: list[RateRule]) -> RateDecision:
        now = time.time()
        windows = []
        async with self._client.pipeline(transaction=False) as pipe:
            for rule in rules:
                window_end = (now // rule.window_seconds + 1) * rule.window_seconds
                key = f"{self._namespace}:{rule.key}:{int(window_end)}"
                pipe.incr(key)
                pipe.expireat(key, int(window_end) + 1)
                windows.append((rule, window_end))
            results = await pipe.execute()
        retry_after = 0
        for index, (rule, window_end) in enumerate(windows):
            if int(results[index * 2]) > rule.limit:
                retry_after = max(retry_after, math.ceil(window_end - now))
        return RateDecision(allowed=retry_after == 0, retry_after_seconds=retry_after)


class RedisNonceStore:
    def __init__(self, client: Redis, namespace: str = "metachat:nonce") -> None:
        self._client = client
        self._namespace = namespace

    async def claim(self, nonce: str, ttl_seconds: int) -> bool:
        return bool(await self._client.set(f"{self._namespace}:{nonce}", b"1", nx=True, ex=ttl_seconds))
