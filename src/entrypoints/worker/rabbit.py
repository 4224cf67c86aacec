"""RabbitMQ consumers (FastStream + dishka-faststream): every task partition with prefetch 1, so tasks of
one ordering key run one at a time in order; manual acks only after the handler's transaction
committed; a handler that keeps failing is rejected to the dead-letter exchange."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from dishka import AsyncContainer
from dishka_faststream import FromDishka, setup_dishka
from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, RabbitBroker, RabbitMessage

from adapters.rabbitmq.topology import RabbitTopology
from application.ports.tasks import Task
from domain.events import Event
from entrypoints.worker.dispatch import Dispatcher, HandlerFailed, NotSettled
from entrypoints.worker.registry import EventSubscription, WorkerHandlers

logger = logging.getLogger(__name__)

# A message put back because a dependency is down waits this long first, so it does not spin.
REQUEUE_PAUSE_SECONDS = 1.0


class RabbitWorkerTransport:
    task_relay_lanes = 1

    def __init__(self, broker: RabbitBroker, topology: RabbitTopology, container: AsyncContainer, batch: int) -> None:
        self._broker = broker
        self._topology = topology
        self._container = container
        self.task_relay_batch = batch

    async def start(self, dispatcher: Dispatcher, handlers: WorkerHandlers) -> None:
        setup_dishka(self._container, broker=self._broker, auto_inject=True)
        await self._broker.connect()
        await self._topology.declare_exchanges(self._broker)
        for partition in range(self._topology.task_partitions):
            # Each subscriber declares and binds its own queue, on its own channel (prefetch 1).
            self._broker.subscriber(
                self._topology.task_queue(partition),
                self._topology.tasks_exchange,
                channel=Channel(prefetch_count=1),
                ack_policy=AckPolicy.MANUAL,
                no_reply=True,
            )(_task_consumer())
        for subscription in handlers.events:
            self._broker.subscriber(
                self._topology.event_queue(subscription.consumer),
                channel=Channel(prefetch_count=subscription.prefetch),
                ack_policy=AckPolicy.MANUAL,
                no_reply=True,
            )(_event_consumer(subscription))
        await self._broker.start()
        for subscription in handlers.events:
            await self._topology.bind_event_queue(self._broker, subscription.consumer, subscription.patterns)

    async def stop(self) -> None:
        await self._broker.stop()


def _task_consumer() -> Callable[..., Awaitable[None]]:
    async def consume_task(
        message: RabbitMessage, request: FromDishka[AsyncContainer], dispatcher: FromDishka[Dispatcher]
    ) -> None:
        try:
            task = Task.from_envelope(json.loads(message.body))
        except (ValueError, KeyError, TypeError):
            logger.error("unreadable task message", extra={"message_id": message.message_id})
            await message.reject(requeue=False)
            return
        await _settle(message, dispatcher.handle_task(task, request))

    return consume_task


def _event_consumer(subscription: EventSubscription) -> Callable[..., Awaitable[None]]:
    async def consume_event(
        message: RabbitMessage, request: FromDishka[AsyncContainer], dispatcher: FromDishka[Dispatcher]
    ) -> None:
        try:
            event = Event.from_envelope(
                json.loads(message.body),
                aggregate_key=str(message.headers.get("aggregate_key", "")),
                correlation_id=message.correlation_id,
            )
        except (ValueError, KeyError, TypeError):
            logger.error("unreadable event message", extra={"message_id": message.message_id})
            await message.reject(requeue=False)
            return
        await _settle(message, dispatcher.handle_event(subscription, event, request))

    return consume_event


async def _settle(message: RabbitMessage, handled: Awaitable[None]) -> None:
    try:
        await handled
    except HandlerFailed as error:
        logger.error("dead-lettering a message", extra={"message_id": message.message_id, "error": str(error)})
        await message.reject(requeue=False)
    except NotSettled:
        await asyncio.sleep(REQUEUE_PAUSE_SECONDS)
        await message.nack(requeue=True)
    else:
        await message.ack()
