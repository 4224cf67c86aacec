"""RabbitMQ consumers: the task partitions this process holds the lease of (entrypoints/worker/partitions), each
with prefetch 1, so tasks of one ordering key run one at a time in order across processes; acks only after the
handler's transaction committed; a handler that keeps failing is rejected to the dead-letter exchange. Each
message runs in a REQUEST scope the dispatcher opens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from faststream.rabbit import RabbitBroker

from adapters.postgres.partition_leases import PostgresPartitionLeases
from adapters.rabbitmq.consumer import Delivery, DeliveryHandler, RabbitConsumers, Settlement
from adapters.rabbitmq.topology import RabbitTopology
from application.ports.tasks import Task
from domain.events import Event
from entrypoints.worker.dispatch import Dispatcher, HandlerFailed, NotSettled
from entrypoints.worker.partitions import TaskPartitions
from entrypoints.worker.registry import EventSubscription, WorkerHandlers

logger = logging.getLogger(__name__)

# A message put back because a dependency is down waits this long first, so it does not spin; with the
# handler's own retries a requeue takes ~12 s, so a quorum queue's delivery limit (20) rides out minutes
# of database outage before dead-lettering.
REQUEUE_PAUSE_SECONDS = 5.0


class RabbitWorkerTransport:
    task_relay_lanes = 1

    def __init__(
        self, broker: RabbitBroker, topology: RabbitTopology, batch: int, leases: PostgresPartitionLeases
    ) -> None:
        self._broker = broker
        self._topology = topology
        self._leases = leases
        self._consumers = RabbitConsumers(broker)
        self._partitions: TaskPartitions | None = None
        self._balancing: asyncio.Task[None] | None = None
        self.task_relay_batch = batch

    async def start(self, dispatcher: Dispatcher, handlers: WorkerHandlers) -> None:
        await self._broker.connect()
        await self._topology.declare_exchanges(self._broker)
        for subscription in handlers.events:
            await self._consumers.consume(
                self._topology.event_queue(subscription.consumer),
                _event_consumer(dispatcher, subscription),
                prefetch=subscription.prefetch,
            )
            await self._topology.bind_event_queue(self._broker, subscription.consumer, subscription.patterns)
        # Every partition's queue exists and is bound from the start, whichever this process gets to consume:
        # the relay's mandatory publishes never find a partition without its queue.
        for partition in range(self._topology.task_partitions):
            await self._consumers.declare(
                self._topology.task_queue(partition), prefetch=1, bound_to=self._topology.tasks_exchange
            )
        self._partitions = TaskPartitions(self._consumers, self._topology, self._leases, _task_consumer(dispatcher))
        # The first round before start-up ends: a lone worker consumes every partition from the start.
        await self._partitions.balance()
        self._balancing = asyncio.create_task(self._partitions.run(), name="task partition leases")

    async def stop(self) -> None:
        if self._balancing is not None:
            self._balancing.cancel()
            await asyncio.gather(self._balancing, return_exceptions=True)
        if self._partitions is not None:
            await self._partitions.stop()
        await self._consumers.cancel()
        await self._broker.stop()


def _task_consumer(dispatcher: Dispatcher) -> DeliveryHandler:
    async def consume_task(delivery: Delivery) -> Settlement:
        try:
            task = Task.from_envelope(delivery.envelope())
        except (ValueError, KeyError, TypeError):
            logger.error("unreadable task message", extra={"message_id": delivery.message_id})
            return Settlement.REJECT
        return await _settle(delivery, dispatcher.handle_task(task))

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
