"""The embedded transport (no RABBITMQ_URL): the same ports over asyncio queues, fed by the same outbox.

Nothing here is durable, so "accepted" means "handled": publish() and enqueue() return only once every
consumer has settled the message (handled it, or dead-lettered it after its retries). Until then the
relay keeps the outbox row unpublished, and a process that stops mid-way finds it again on the next
start. Consumers therefore see at-least-once delivery, exactly as with RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import attrs

from application.ports.tasks import Task, ordering_partition
from domain.events import Event

logger = logging.getLogger(__name__)

MessageT = TypeVar("MessageT")
EventConsumer = Callable[[Event], Awaitable[None]]
TaskConsumer = Callable[[Task], Awaitable[None]]


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic semantics: words split on '.', '*' is exactly one word, '#' is zero or more."""
    return _match(pattern.split("."), routing_key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[index:]) for index in range(len(words) + 1))
    if not words:
        return False
    return (head in ("*", words[0])) and _match(rest, words[1:])


@attrs.define
class _Subscription:
    name: str
    patterns: tuple[str, ...]
    consumer: EventConsumer
    queue: asyncio.Queue[tuple[Event, asyncio.Future[None]]] = attrs.field(factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None

    def wants(self, event: Event) -> bool:
        return any(topic_matches(pattern, event.routing_key) for pattern in self.patterns)


class InProcessEventBus:
    """EventPublisher for embedded mode: each subscription gets every matching event, in order."""

    def __init__(self) -> None:
        self._subscriptions: list[_Subscription] = []
        self.running = False

    def subscribe(self, name: str, patterns: Sequence[str], consumer: EventConsumer) -> None:
        subscription = _Subscription(name=name, patterns=tuple(patterns), consumer=consumer)
        self._subscriptions.append(subscription)
        if self.running:
            subscription.worker = asyncio.create_task(_drain(subscription.queue, subscription.consumer))

    async def publish(self, events: Sequence[Event]) -> None:
        settled: list[asyncio.Future[None]] = []
        loop = asyncio.get_running_loop()
        for event in events:
            for subscription in self._subscriptions:
                if subscription.wants(event):
                    future = loop.create_future()
                    subscription.queue.put_nowait((event, future))
                    settled.append(future)
        if settled:
            await _all_settled(settled)

    async def start(self) -> None:
        self.running = True
        for subscription in self._subscriptions:
            subscription.worker = asyncio.create_task(_drain(subscription.queue, subscription.consumer))

    async def stop(self) -> None:
        self.running = False
        await _cancel([subscription.worker for subscription in self._subscriptions])


class InProcessTaskQueue:
    """TaskQueue for embedded mode: N partitions, each handling its tasks one at a time, in order."""

    def __init__(self, partitions: int) -> None:
        self._queues: list[asyncio.Queue[tuple[Task, asyncio.Future[None]]]] = [
            asyncio.Queue() for _ in range(partitions)
        ]
        self._workers: list[asyncio.Task[None] | None] = []
        self._consumer: TaskConsumer | None = None

    @property
    def running(self) -> bool:
        return bool(self._workers)

    async def enqueue(self, tasks: Sequence[Task]) -> None:
        if self._consumer is None:
            raise RuntimeError("no task consumer is running in this process")
        loop = asyncio.get_running_loop()
        settled = []
        for task in tasks:
            future = loop.create_future()
            self._queues[ordering_partition(task, len(self._queues))].put_nowait((task, future))
            settled.append(future)
        await _all_settled(settled)

    async def start(self, consumer: TaskConsumer) -> None:
        self._consumer = consumer
        self._workers = [asyncio.create_task(_drain(queue, consumer)) for queue in self._queues]

    async def stop(self) -> None:
        await _cancel(self._workers)
        self._workers = []
        self._consumer = None


async def _drain(
    queue: asyncio.Queue[tuple[MessageT, asyncio.Future[None]]], consumer: Callable[[MessageT], Awaitable[None]]
) -> None:
    while True:
        message, settled = await queue.get()
        if settled.done():
            # The publisher gave up waiting (cancelled): the row stays pending and comes back.
            continue
        try:
            await consumer(message)
        except asyncio.CancelledError:
            settled.cancel()
            raise
        except Exception as error:
            # Not settled: the relay leaves the outbox row pending and offers it again later.
            if not settled.done():
                settled.set_exception(error)
        else:
            # The publisher may have stopped waiting meanwhile (shutdown); then nobody needs the answer.
            if not settled.done():
                settled.set_result(None)


async def _all_settled(futures: list[asyncio.Future[None]]) -> None:
    try:
        results = await asyncio.gather(*futures, return_exceptions=True)
    except asyncio.CancelledError:
        for future in futures:
            future.cancel()
        raise
    failures = [result for result in results if isinstance(result, BaseException)]
    if failures:
        raise failures[0]


async def _cancel(tasks: Sequence[asyncio.Task[None] | None]) -> None:
    running = [task for task in tasks if task is not None]
    for task in running:
        task.cancel()
    for task in running:
        with contextlib.suppress(asyncio.CancelledError):
            await task
