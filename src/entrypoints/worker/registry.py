"""What the worker does with each task and event: handlers are registered by name, one line each, and
run as a use case resolved from dishka in the message's REQUEST scope.

    tasks.register("document.index", use_case(IndexDocument, lambda task: IndexDocumentInput(...)))
    events.subscribe("analytics", ["*.message.*"], use_case(RecordMessageStats, stats_input))
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import attrs
from dishka import AsyncContainer

from application.ports.tasks import Task
from domain.events import Event

MessageT = TypeVar("MessageT", Task, Event)
# A handler gets the message's REQUEST-scope container and the message; returning means "done".
Handler = Callable[[AsyncContainer, MessageT], Awaitable[object]]
TaskHandler = Handler[Task]
EventHandler = Handler[Event]


def use_case(
    use_case_type: type[Any], to_input: Callable[[MessageT], Any] | None = None
) -> Callable[[AsyncContainer, MessageT], Awaitable[object]]:
    """Handle a message with a use case: resolve it in the message's scope and call execute(input);
    without `to_input` the task or event itself is the input."""

    async def handle(request: AsyncContainer, message: MessageT) -> object:
        handler = await request.get(use_case_type)
        result: object = await handler.execute(message if to_input is None else to_input(message))
        return result

    return handle


class TaskHandlers:
    def __init__(self) -> None:
        self._handlers: dict[str, TaskHandler] = {}

    def register(self, name: str, handler: TaskHandler) -> None:
        if name in self._handlers:
            raise ValueError(f"a handler for task {name!r} is already registered")
        self._handlers[name] = handler

    def get(self, name: str) -> TaskHandler | None:
        return self._handlers.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self._handlers)


@attrs.frozen
class EventSubscription:
    # Names the consumer's durable queue (`{namespace}.events.{consumer}`) and its dedupe records.
    consumer: str
    # Topic patterns over `{tenant_id}.{event_type}`: "*.message.received", "*.conversation.#", "#".
    patterns: tuple[str, ...]
    handler: EventHandler
    # 1 keeps events in order; more lets a consumer that does not care about order go faster.
    prefetch: int = 1


class EventHandlers:
    def __init__(self) -> None:
        self._subscriptions: dict[str, EventSubscription] = {}

    def subscribe(self, consumer: str, patterns: Sequence[str], handler: EventHandler, *, prefetch: int = 1) -> None:
        if consumer in self._subscriptions:
            raise ValueError(f"an event consumer named {consumer!r} is already registered")
        if not patterns:
            raise ValueError("an event consumer needs at least one topic pattern")
        self._subscriptions[consumer] = EventSubscription(consumer, tuple(patterns), handler, prefetch)

    def __iter__(self) -> Iterator[EventSubscription]:
        return iter(self._subscriptions.values())


@attrs.frozen
class PeriodicJob:
    name: str
    every_seconds: float
    # Called with a fresh REQUEST-scope container each time; a failure is logged and tried next time.
    run: Callable[[AsyncContainer], Awaitable[object]]


class PeriodicJobs:
    def __init__(self) -> None:
        self._jobs: dict[str, PeriodicJob] = {}

    def every(self, seconds: float, name: str, run: Callable[[AsyncContainer], Awaitable[object]]) -> None:
        if name in self._jobs:
            raise ValueError(f"a periodic job named {name!r} is already registered")
        if seconds <= 0:
            raise ValueError("a periodic job needs a positive interval")
        self._jobs[name] = PeriodicJob(name, seconds, run)

    def __iter__(self) -> Iterator[PeriodicJob]:
        return iter(self._jobs.values())


@attrs.frozen
class WorkerHandlers:
    tasks: TaskHandlers = attrs.field(factory=TaskHandlers)
    events: EventHandlers = attrs.field(factory=EventHandlers)
    periodic: PeriodicJobs = attrs.field(factory=PeriodicJobs)
