"""Embedded mode: tasks and events come from the in-process queues the relay fills; a message a
handler gave up on is recorded in the dead_letters table (tasks) or logged (events)."""

from __future__ import annotations

import logging

from adapters.inprocess.transport import EventConsumer, InProcessEventBus, InProcessTaskQueue
from application.ports.events import DeadLetter, DeadLetters
from application.ports.tasks import Task
from domain.events import Event
from entrypoints.worker.dispatch import Dispatcher, HandlerFailed
from entrypoints.worker.registry import EventSubscription, WorkerHandlers

logger = logging.getLogger(__name__)


class InProcessWorkerTransport:
    task_relay_batch = 1

    def __init__(self, bus: InProcessEventBus, queue: InProcessTaskQueue, dead_letters: DeadLetters, lanes: int):
        self._bus = bus
        self._queue = queue
        self._dead_letters = dead_letters
        self.task_relay_lanes = lanes

    async def start(self, dispatcher: Dispatcher, handlers: WorkerHandlers) -> None:
        async def consume_task(task: Task) -> None:
            try:
                await dispatcher.handle_task(task)
            except HandlerFailed as error:
                logger.error("dead-lettering a task", extra={"task": task.name, "message_id": str(task.id)})
                await self._dead_letters.record(
                    DeadLetter(
                        kind="task",
                        tenant_id=task.tenant_id,
                        type=task.name,
                        envelope=task.envelope(),
                        error=str(error),
                    )
                )

        for subscription in handlers.events:
            self._bus.subscribe(
                subscription.consumer, subscription.patterns, self._event_consumer(dispatcher, subscription)
            )
        await self._queue.start(consume_task)
        await self._bus.start()

    async def stop(self) -> None:
        await self._bus.stop()
        await self._queue.stop()

    def _event_consumer(self, dispatcher: Dispatcher, subscription: EventSubscription) -> EventConsumer:
        async def consume_event(event: Event) -> None:
            try:
                await dispatcher.handle_event(subscription, event)
            except HandlerFailed as error:
                logger.error(
                    "an event consumer gave up on an event",
                    extra={"consumer": subscription.consumer, "message_id": str(event.id)},
                )
                await self._dead_letters.record(
                    DeadLetter(
                        kind=f"event:{subscription.consumer}",
                        tenant_id=event.tenant_id,
                        type=event.type,
                        envelope=event.envelope(),
                        error=str(error),
                    )
                )

        return consume_event
