"""RabbitMQ consumers (FastStream + dishka-faststream): every task partition with prefetch 1, so tasks of
one ordering key run one at a time in order; manual acks only after the handler's transaction
committed; a handler that keeps failing is rejected to the dead-letter exchange.

dishka-faststream's middleware opens the REQUEST scope of each message. The subscribers read that scope
and the message from FastStream's context instead of through FastStream's argument injection
(`apply_types=False` on the broker): the injection resolves every context argument in a worker thread,
which doubled the CPU cost of a message (measured: ~480 µs → ~250 µs per message)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from dishka import AsyncContainer
from dishka_faststream import setup_dishka
from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, RabbitBroker, RabbitMessage

from adapters.rabbitmq.topology import RabbitTopology
from application.ports.tasks import Task
from domain.events import Event
from entrypoints.worker.dispatch import Dispatcher, HandlerFailed, NotSettled
from entrypoints.worker.registry import EventSubscription, WorkerHandlers

logger = logging.getLogger(__name__)

# A message put back because a dependency is down waits this long first, so it does not spin; with the
# handler's own retries a requeue takes ~12 s, so a quorum queue's delivery limit (20) rides out minutes
# of database outage before dead-lettering.
REQUEUE_PAUSE_SECONDS = 5.0


class RabbitWorkerTransport:
    task_relay_lanes = 1

    def __init__(self, broker: RabbitBroker, topology: RabbitTopology, container: AsyncContainer, batch: int) -> None:
        self._broker = broker
        self._topology = topology
        self._container = container
        self.task_relay_batch = batch

    async def start(self, dispatcher: Dispatcher, handlers: WorkerHandlers) -> None:
        setup_dishka(self._container, broker=self._broker)
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
            )(self._task_consumer(dispatcher))
        for subscription in handlers.events:
            self._broker.subscriber(
                self._topology.event_queue(subscription.consumer),
                channel=Channel(prefetch_count=subscription.prefetch),
                ack_policy=AckPolicy.MANUAL,
                no_reply=True,
            )(self._event_consumer(dispatcher, subscription))
        await self._broker.start()
        for subscription in handlers.events:
            await self._topology.bind_event_queue(self._broker, subscription.consumer, subscription.patterns)

    async def stop(self) -> None:
        await self._broker.stop()

    def _current(self) -> tuple[RabbitMessage, AsyncContainer]:
        context = self._broker.context
        message: RabbitMessage = context.get_local("message")
        request: AsyncContainer = context.get_local("dishka")
        return message, request

    def _task_consumer(self, dispatcher: Dispatcher) -> Callable[[Any], Awaitable[None]]:
        async def consume_task(body: Any) -> None:
            message, request = self._current()
            try:
                task = Task.from_envelope(_envelope(body, message))
            except (ValueError, KeyError, TypeError):
                logger.error("unreadable task message", extra={"message_id": message.message_id})
                await message.reject(requeue=False)
                return
            await _settle(message, dispatcher.handle_task(task, request))

        return consume_task

    def _event_consumer(
        self, dispatcher: Dispatcher, subscription: EventSubscription
    ) -> Callable[[Any], Awaitable[None]]:
        async def consume_event(body: Any) -> None:
            message, request = self._current()
            try:
                event = Event.from_envelope(
                    _envelope(body, message),
                    aggregate_key=str(message.headers.get("aggregate_key", "")),
                    correlation_id=message.correlation_id,
                )
            except (ValueError, KeyError, TypeError):
                logger.error("unreadable event message", extra={"message_id": message.message_id})
                await message.reject(requeue=False)
                return
            await _settle(message, dispatcher.handle_event(subscription, event, request))

        return consume_event


def _envelope(body: Any, message: RabbitMessage) -> dict[str, Any]:
    """FastStream has already decoded a JSON body; anything else is parsed here (and may fail)."""
    envelope = body if isinstance(body, dict) else json.loads(message.body)
    if not isinstance(envelope, dict):
        raise ValueError("the message body is not a JSON object")
    return envelope


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
