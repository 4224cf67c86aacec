"""RabbitMQ consumers: every task partition with prefetch 1, so tasks of one ordering key run one at a
time in order in this process, and under the key's lock across processes (adapters/postgres/ordering_locks);
acks only after the handler's transaction committed; a handler that keeps failing is rejected to the
dead-letter exchange. Each message runs in a REQUEST scope the dispatcher opens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from faststream.rabbit import RabbitBroker

from adapters.postgres.ordering_locks import PostgresOrderingLocks
from adapters.rabbitmq.consumer import Delivery, DeliveryHandler, RabbitConsumers, Settlement
from adapters.rabbitmq.topology import RabbitTopology
from application.errors import ServiceUnavailable
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

    def __init__(
        self, broker: RabbitBroker, topology: RabbitTopology, batch: int, ordering_locks: PostgresOrderingLocks
    ) -> None:
        self._broker = broker
        self._topology = topology
        self._ordering_locks = ordering_locks
        self._consumers = RabbitConsumers(broker)
        self.task_relay_batch = batch

    async def start(self, dispatcher: Dispatcher, handlers: WorkerHandlers) -> None:
        await self._broker.connect()
        await self._topology.declare_exchanges(self._broker)
        for partition in range(self._topology.task_partitions):
            await self._consumers.consume(
                self._topology.task_queue(partition),
                _task_consumer(dispatcher, self._ordering_locks),
                prefetch=1,
                bound_to=self._topology.tasks_exchange,
            )
        for subscription in handlers.events:
            await self._consumers.consume(
                self._topology.event_queue(subscription.consumer),
                _event_consumer(dispatcher, subscription),
                prefetch=subscription.prefetch,
            )
            await self._topology.bind_event_queue(self._broker, subscription.consumer, subscription.patterns)

    async def stop(self) -> None:
        await self._consumers.cancel()
        await self._broker.stop()


def _task_consumer(dispatcher: Dispatcher, ordering_locks: PostgresOrderingLocks) -> DeliveryHandler:
    async def consume_task(delivery: Delivery) -> Settlement:
        try:
            task = Task.from_envelope(delivery.envelope())
        except (ValueError, KeyError, TypeError):
            logger.error("unreadable task message", extra={"message_id": delivery.message_id})
            return Settlement.REJECT
        if task.ordering_key is None:
            return await _settle(delivery, dispatcher.handle_task(task))
        try:
            async with ordering_locks.holding(task.ordering_key):
                return await _settle(delivery, dispatcher.handle_task(task))
        except ServiceUnavailable:
            # The key's lock could not be taken (the database is down): back to the queue, as a handler whose
            # dependency is down.
            logger.warning("task ordering lock unavailable", extra={"message_id": delivery.message_id})
            await asyncio.sleep(REQUEUE_PAUSE_SECONDS)
            return Settlement.REQUEUE

    return consume_task


def _event_consumer(dispatcher: Dispatcher, subscription: EventSubscription) -> DeliveryHandler:
    async def consume_event(delivery: Delivery) -> Settlement:
        try:
            event = Event.from_envelope(
                delivery.envelope(),
                aggregate_key=str(delivery.headers.get("aggregate_key", "")),
                correlation_id=delivery.correlation_id,
            )
        except (ValueError, KeyError, TypeError):
            logger.error("unreadable event message", extra={"message_id": delivery.message_id})
            return Settlement.REJECT
        return await _settle(delivery, dispatcher.handle_event(subscription, event))

    return consume_event


async def _settle(delivery: Delivery, handled: Awaitable[None]) -> Settlement:
    try:
        await handled
    except HandlerFailed as error:
        logger.error("dead-lettering a message", extra={"message_id": delivery.message_id, "error": str(error)})
        return Settlement.REJECT
    except NotSettled:
        await asyncio.sleep(REQUEUE_PAUSE_SECONDS)
        return Settlement.REQUEUE
    return Settlement.ACK
