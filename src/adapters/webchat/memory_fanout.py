"""Fan-out inside one process: enough when the API and the worker run together (`metachat run`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from adapters.webchat.subscribers import LocalSubscribers
from application.ports.webchat import LiveEvent, VisitorTopic

# One per process: the API's sockets and the worker's publishers may come from different containers.
_PROCESS_SUBSCRIBERS = LocalSubscribers()


class InProcessLiveFanout:
    def __init__(self, subscribers: LocalSubscribers | None = None) -> None:
        self._subscribers = subscribers or _PROCESS_SUBSCRIBERS

    async def publish(self, topic: VisitorTopic, event: LiveEvent) -> None:
        self._subscribers.deliver(topic.key, event)

    @asynccontextmanager
    async def subscribe(self, topic: VisitorTopic) -> AsyncIterator[AsyncIterator[LiveEvent]]:
        subscriber, _ = self._subscribers.add(topic.key)
        try:
            yield subscriber.events()
        finally:
            self._subscribers.remove(topic.key, subscriber)
