"""The subscribers of one process, by topic: what both fan-out transports hand their events to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from application.ports.webchat import LiveEvent, LiveEventKind

RESYNC = LiveEvent(LiveEventKind.CHANGED, {"resync": True})


class Subscriber:
    """A bounded queue: a reader that falls this far behind gets one resync instead of a backlog,
    so one slow socket never holds memory or slows the others."""

    def __init__(self, capacity: int) -> None:
        self._queue: asyncio.Queue[LiveEvent] = asyncio.Queue(capacity)

    def offer(self, event: LiveEvent) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(RESYNC)

    async def events(self) -> AsyncIterator[LiveEvent]:
        while True:
            yield await self._queue.get()


class LocalSubscribers:
    def __init__(self, capacity: int = 1000) -> None:
        self._capacity = capacity
        self._by_key: dict[str, set[Subscriber]] = {}

    def add(self, key: str) -> tuple[Subscriber, bool]:
        """The new subscriber, and whether it is the first of its topic in this process."""
        subscriber = Subscriber(self._capacity)
        existing = self._by_key.setdefault(key, set())
        existing.add(subscriber)
        return subscriber, len(existing) == 1

    def remove(self, key: str, subscriber: Subscriber) -> bool:
        """Whether the topic has no subscriber left in this process."""
        existing = self._by_key.get(key)
        if existing is None:
            return False
        existing.discard(subscriber)
        if existing:
            return False
        del self._by_key[key]
        return True

    def deliver(self, key: str, event: LiveEvent) -> None:
        for subscriber in list(self._by_key.get(key, ())):
            subscriber.offer(event)

    def resync_all(self) -> None:
        for subscribers in list(self._by_key.values()):
            for subscriber in list(subscribers):
                subscriber.offer(RESYNC)

    @property
    def keys(self) -> list[str]:
        return list(self._by_key)
