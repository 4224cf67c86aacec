"""Redis-backed sliding-window rate limits, replay nonces and send slots, shared by every process."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from application.ports.rate_limiter import RateDecision, RateRule
from application.rate_limiting import WindowPosition, retry_after

logger = logging.getLogger(__name__)


class RedisRateLimiter:
    def __init__(self, client: Redis, namespace: str = "metachat:rl", clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._namespace = namespace
        self._clock = clock

    async def hit(self, rules: list[RateRule]) -> RateDecision:
        now = self._clock()
        positions = [WindowPosition.of(rule, now) for rule in rules]
        async with self._client.pipeline(transaction=False) as pipe:
            for rule, position in zip(rules, positions, strict=True):
                key = f"{self._namespace}:{rule.key}:{rule.window_seconds}"
                pipe.incr(f"{key}:{position.index}")
                # Kept through the next window too, where it is the previous one.
                pipe.expireat(f"{key}:{position.index}", math.ceil(position.end) + rule.window_seconds + 1)
                pipe.get(f"{key}:{position.index - 1}")
            results = await pipe.execute()
        wait = 0
        for index, (rule, position) in enumerate(zip(rules, positions, strict=True)):
            current, previous = int(results[index * 3]), int(results[index * 3 + 2] or 0)
            wait = max(wait, retry_after(rule, position, previous, current))
        return RateDecision(allowed=wait == 0, retry_after_seconds=wait)


class RedisNonceStore:
    def __init__(self, client: Redis, namespace: str = "metachat:nonce") -> None:
        self._client = client
        self._namespace = namespace

    async def claim(self, nonce: str, ttl_seconds: int) -> bool:
        return bool(await self._client.set(f"{self._namespace}:{nonce}", b"1", nx=True, ex=ttl_seconds))


# The next free slot of a sender, on Redis' own clock (workers on several hosts share no other), in one
# atomic step: max(now, next free slot) is this send's; the one after it is `interval` later.
_RESERVE_SLOT = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local interval = tonumber(ARGV[1])
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
local keep_ms = math.ceil((slot - now + interval) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.6f', slot + interval), 'PX', keep_ms)
return string.format('%.6f', slot - now)
"""


class RedisSendPacer:
    """Send slots shared by every worker process, so a phone number's send rate holds however many run."""

    def __init__(self, client: Redis, namespace: str = "metachat:pace") -> None:
        self._client = client
        self._namespace = namespace
        self._reserve = client.register_script(_RESERVE_SLOT)

    async def reserve(self, key: str, per_second: float) -> float:
        try:
            wait = await self._reserve(keys=[f"{self._namespace}:{key}"], args=[1.0 / per_second])
        except (RedisError, OSError) as error:
            # Pacing protects the number from Meta's throttling, whose 429s are retried anyway: a reply is
            # not held back (or lost) because Redis is unreachable for a moment.
            logger.warning("send pace not shared: redis unavailable", extra={"error": type(error).__name__})
            return 0.0
        return max(0.0, float(wait))
