"""Sliding-window counting, shared by the rate limiter adapters.

Each rule counts hits per fixed window, but a decision weighs the previous window by the share of it
still inside the last `window_seconds`: a client cannot spend a whole budget at the end of one window
and another at the start of the next (a fixed window allows twice the limit across its edge).
"""

from __future__ import annotations

import math

import attrs

from application.ports.rate_limiter import RateRule


@attrs.frozen
class WindowPosition:
    """Where `now` falls: the current window's number and the share of it already gone."""

    index: int
    elapsed: float
    end: float

    @classmethod
    def of(cls, rule: RateRule, now: float) -> WindowPosition:
        index = math.floor(now / rule.window_seconds)
        start = index * rule.window_seconds
        return cls(index, (now - start) / rule.window_seconds, start + rule.window_seconds)


def retry_after(rule: RateRule, position: WindowPosition, previous: int, current: int) -> int:
    """0 when the hit just counted keeps the rule within its limit, else the seconds until one more fits."""
    if previous * (1 - position.elapsed) + current <= rule.limit:
        return 0
    if current >= rule.limit or previous == 0:
        # Only the next window has room.
        return max(1, math.ceil((1 - position.elapsed) * rule.window_seconds))
    # The previous window's weight shrinks as it slides out, until previous * (1 - share) + current fits.
    share_needed = 1 - (rule.limit - current) / previous
    return max(1, math.ceil((share_needed - position.elapsed) * rule.window_seconds))
