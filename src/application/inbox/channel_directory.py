"""Which channel a webhook belongs to, remembered briefly in-process so an acknowledgement costs one
database transaction instead of two."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

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
        self._loading: dict[Any, asyncio.Future[Any]] = {}

    async def route(self, kind: ChannelKind, external_id: str) -> ChannelRoute | None:
        return await self._cached(self._routes, (kind, external_id), lambda: self._load_route(kind, external_id))

    async def channel(self, channel_id: ChannelId) -> Channel | None:
        return await self._cached(self._channels, channel_id, lambda: self._load_channel(channel_id))

    async def _load_route(self, kind: ChannelKind, external_id: str) -> ChannelRoute | None:
        async with self._uow_factory(None) as uow:
            return await uow.channels.route(kind, external_id)

    async def _load_channel(self, channel_id: ChannelId) -> Channel | None:
        async with self._uow_factory(None) as uow:
            return await uow.channels.locate(channel_id)

    async def _cached(self, cache: dict[K, tuple[float, V]], key: K, load: Callable[[], Coroutine[Any, Any, V]]) -> V:
        cached = cache.get(key)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        # Single flight: when an entry expires under load, one lookup serves every request waiting for it
        # instead of each taking a database connection at the same moment.
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(load())
            self._loading[key] = pending
            pending.add_done_callback(lambda _: self._loading.pop(key, None))
        value: V = await asyncio.shield(pending)
        if len(cache) >= self._max_entries:
            # Unknown ids sent at us must not grow memory without bound: start afresh.
            cache.clear()
        cache[key] = (self._clock() + self._ttl, value)
        return value
