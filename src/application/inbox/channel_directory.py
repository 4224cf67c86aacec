"""Which channel a webhook belongs to, remembered briefly in-process so an acknowledgement costs one
database transaction instead of two."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from application.ports.repositories import ChannelRoute
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.channels.channel import Channel, ChannelKind
from domain.common.ids import ChannelId

K = TypeVar("K")
V = TypeVar("V")


class ChannelDirectory:
    """A reconfigured or deleted channel is seen after at most `ttl_seconds`; until then an event for
    a deleted channel fails to store (its row is gone) and Meta simply redelivers it."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        *,
        ttl_seconds: float = 10.0,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uow_factory = uow_factory
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._routes: dict[tuple[ChannelKind, str], tuple[float, ChannelRoute | None]] = {}
        self._channels: dict[ChannelId, tuple[float, Channel | None]] = {}

    async def route(self, kind: ChannelKind, external_id: str) -> ChannelRoute | None:
        now = self._clock()
        cached = self._routes.get((kind, external_id))
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._uow_factory(None) as uow:
            route = await uow.channels.route(kind, external_id)
        self._remember(self._routes, (kind, external_id), route, now)
        return route

    async def channel(self, channel_id: ChannelId) -> Channel | None:
        now = self._clock()
        cached = self._channels.get(channel_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._uow_factory(None) as uow:
            channel = await uow.channels.locate(channel_id)
        self._remember(self._channels, channel_id, channel, now)
        return channel

    def _remember(self, cache: dict[K, tuple[float, V]], key: K, value: V, now: float) -> None:
        if len(cache) >= self._max_entries:
            # Unknown ids sent at us must not grow memory without bound: start afresh.
            cache.clear()
        cache[key] = (now + self._ttl, value)
