from typing import Protocol

import attrs


@attrs.frozen
class RateDecision:
    allowed: bool
    retry_after_seconds: int = 0


@attrs.frozen
class RateRule:
    key: str
    limit: int
    window_seconds: int = 60


class RateLimiter(Protocol):
    async def hit(self, rules: list[RateRule]) -> RateDecision:
        """Count one hit against every rule; refused if any rule is over its limit."""
        ...


class NonceStore(Protocol):
    async def claim(self, nonce: str, ttl_seconds: int) -> bool:
        """True the first time a nonce is seen within its TTL, False for a replay."""
        ...


class SendPacer(Protocol):
    async def reserve(self, key: str, per_second: float) -> float:
        """Reserve the next send slot of one sender (a phone number, a page), at most `per_second` of them
        across every process that sends for it; returns the seconds to wait before sending."""
        ...
