"""Names and shapes of everything the platform declares on RabbitMQ, declared at start-up.

- `{ns}.events`  durable topic exchange; routing key `{tenant_id}.{event_type}`
- `{ns}.tasks`   durable direct exchange → queues `{ns}.tasks.{0..N-1}` (routing key = partition)
- `{ns}.dead`    durable direct exchange → `{ns}.tasks.dead` and `{ns}.events.dead`
- `{ns}.events.{consumer}`  one durable queue per internal event consumer

The consistent-hash exchange plugin is not assumed: the relay hashes the ordering key to pick a task
partition. Queues are quorum-ready: with queue_type "quorum" they also get a broker-side delivery limit
(a message that keeps crashing its consumer is dead-lettered instead of looping)."""

from __future__ import annotations

from typing import Any, cast

import attrs
from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.schemas.queue import ClassicQueueArgs, QuorumQueueArgs

TASKS_DEAD_ROUTING_KEY = "tasks"
EVENTS_DEAD_ROUTING_KEY = "events"


@attrs.frozen
class RabbitTopology:
    namespace: str = "metachat"
    task_partitions: int = 16
    queue_type: str = "classic"
    delivery_limit: int = 20

    def __attrs_post_init__(self) -> None:
        if self.queue_type not in ("classic", "quorum"):
            raise ValueError("queue type must be 'classic' or 'quorum'")
        if self.task_partitions < 1:
            raise ValueError("at least one task partition is needed")

    @property
    def events_exchange(self) -> RabbitExchange:
        return RabbitExchange(f"{self.namespace}.events", type=ExchangeType.TOPIC, durable=True)

    @property
    def tasks_exchange(self) -> RabbitExchange:
        return RabbitExchange(f"{self.namespace}.tasks", type=ExchangeType.DIRECT, durable=True)

    @property
    def dead_exchange(self) -> RabbitExchange:
        return RabbitExchange(f"{self.namespace}.dead", type=ExchangeType.DIRECT, durable=True)

    def task_queue(self, partition: int) -> RabbitQueue:
        """Bound (by its subscriber) to the tasks exchange with the partition number as routing key."""
        return self._queue(f"{self.namespace}.tasks.{partition}", TASKS_DEAD_ROUTING_KEY, routing_key=str(partition))

    def event_queue(self, consumer: str) -> RabbitQueue:
        return self._queue(f"{self.namespace}.events.{consumer}", EVENTS_DEAD_ROUTING_KEY)

    @property
    def dead_task_queue(self) -> RabbitQueue:
        return self._queue(f"{self.namespace}.tasks.dead", None)

    @property
    def dead_event_queue(self) -> RabbitQueue:
        return self._queue(f"{self.namespace}.events.dead", None)

    def _queue(self, name: str, dead_routing_key: str | None, routing_key: str = "") -> RabbitQueue:
        arguments: dict[str, Any] = {}
        if dead_routing_key is not None:
            arguments["x-dead-letter-exchange"] = self.dead_exchange.name
            arguments["x-dead-letter-routing-key"] = dead_routing_key
            if self.queue_type == "quorum":
                arguments["x-delivery-limit"] = self.delivery_limit
        if self.queue_type == "quorum":
            return RabbitQueue(
                name,
                QueueType.QUORUM,
                durable=True,
                arguments=cast("QuorumQueueArgs", arguments),
                routing_key=routing_key,
            )
        return RabbitQueue(
            name,
            QueueType.CLASSIC,
            durable=True,
            arguments=cast("ClassicQueueArgs", arguments),
            routing_key=routing_key,
        )

    async def declare_exchanges(self, broker: RabbitBroker) -> None:
        """Exchanges and dead-letter queues (idempotent; run on every start-up, before any consumer)."""
        await broker.declare_exchange(self.events_exchange)
        await broker.declare_exchange(self.tasks_exchange)
        dead = await broker.declare_exchange(self.dead_exchange)
        for dead_queue, routing_key in (
            (self.dead_task_queue, TASKS_DEAD_ROUTING_KEY),
            (self.dead_event_queue, EVENTS_DEAD_ROUTING_KEY),
        ):
            queue = await broker.declare_queue(dead_queue)
            await queue.bind(dead, routing_key=routing_key)

    async def bind_event_queue(self, broker: RabbitBroker, consumer: str, patterns: tuple[str, ...]) -> None:
        """Bind a consumer's queue to every topic pattern it asked for. Run after its subscriber started:
        FastStream keeps the first declaration of a queue, and the subscriber's must be that one, on the
        subscriber's own channel (its prefetch); a queue declared earlier on the default channel would be
        consumed there, without the prefetch limit."""
        events = await broker.declare_exchange(self.events_exchange)
        queue = await broker.declare_queue(self.event_queue(consumer))
        for pattern in patterns:
            await queue.bind(events, routing_key=pattern)
