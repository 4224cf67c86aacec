"""Publishing to RabbitMQ through the FastStream broker's connection: persistent messages, publisher
confirms awaited for the whole batch (pipelined on one channel, so order per aggregate holds)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiormq
import msgspec
from aio_pika import DeliveryMode
from aiormq.abc import ConfirmationFrameType
from faststream.rabbit import RabbitBroker, RabbitExchange
from pamqp.commands import Basic

from adapters.rabbitmq.topology import RabbitTopology
from application.errors import ServiceUnavailable
from application.ports.tasks import Task, ordering_partition
from domain.events import Event

CONTENT_TYPE = "application/json"


class _ConfirmedPublisher:
    def __init__(self, broker: RabbitBroker, exchange: RabbitExchange, confirm_timeout: float) -> None:
        self._broker = broker
        self._exchange_spec = exchange
        self._confirm_timeout = confirm_timeout
        self._declared = False

    async def _send(self, messages: Sequence[tuple[str, bytes, Basic.Properties]], *, mandatory: bool) -> None:
        try:
            async with asyncio.timeout(self._confirm_timeout):
                if not self._declared:
                    await self._broker.declare_exchange(self._exchange_spec)
                    self._declared = True
                default_channel = await self._broker.config.channel_manager.get_channel()
                channel = await default_channel.get_underlay_channel()
                # wait=False hands each frame to the writer without waiting for the socket to drain;
                # the confirmations are what we wait for, all at once.
                confirmations: list[asyncio.Future[ConfirmationFrameType | None]] = [
                    asyncio.ensure_future(
                        channel.basic_publish(
                            body,
                            exchange=self._exchange_spec.name,
                            routing_key=routing_key,
                            properties=properties,
                            mandatory=mandatory,
                            wait=False,
                        )
                    )
                    for routing_key, body, properties in messages
                ]
                results = await asyncio.gather(*confirmations, return_exceptions=True)
        except (TimeoutError, aiormq.AMQPError, ConnectionError, RuntimeError) as error:
            raise ServiceUnavailable(f"the message broker did not confirm: {type(error).__name__}") from error
        failures = [result for result in results if isinstance(result, BaseException)]
        returned = [result for result in results if result is not None and not isinstance(result, Basic.Ack)]
        if failures or returned:
            raise ServiceUnavailable(
                "the message broker refused or could not route some messages",
                details={"failed": len(failures), "returned": len(returned)},
            )


class RabbitEventPublisher(_ConfirmedPublisher):
    def __init__(self, broker: RabbitBroker, topology: RabbitTopology, confirm_timeout: float = 10.0) -> None:
        super().__init__(broker, topology.events_exchange, confirm_timeout)

    async def publish(self, events: Sequence[Event]) -> None:
        if events:
            # Not mandatory: an event type nobody subscribes to is simply dropped by the exchange.
            await self._send([(event.routing_key, *_event_message(event)) for event in events], mandatory=False)


class RabbitTaskQueue(_ConfirmedPublisher):
    def __init__(self, broker: RabbitBroker, topology: RabbitTopology, confirm_timeout: float = 10.0) -> None:
        super().__init__(broker, topology.tasks_exchange, confirm_timeout)
        self._partitions = topology.task_partitions

    async def enqueue(self, tasks: Sequence[Task]) -> None:
        if tasks:
            # Mandatory: a task that reaches no queue (topology missing) must fail the relay, not vanish.
            await self._send(
                [(str(ordering_partition(task, self._partitions)), *_task_message(task)) for task in tasks],
                mandatory=True,
            )


def _event_message(event: Event) -> tuple[bytes, Basic.Properties]:
    return _message(
        event.envelope(),
        message_id=str(event.id),
        message_type=event.type,
        correlation_id=event.correlation_id,
        # The tenant is in the routing key; the aggregate lets a consumer shard and still keep order.
        headers={"aggregate_key": event.aggregate_key},
    )


def _task_message(task: Task) -> tuple[bytes, Basic.Properties]:
    return _message(
        task.envelope(),
        message_id=str(task.id),
        message_type=task.name,
        correlation_id=task.correlation_id,
        headers={"ordering_key": task.ordering_key or ""},
    )


def _message(
    envelope: dict[str, Any],
    *,
    message_id: str,
    message_type: str,
    correlation_id: str | None,
    headers: dict[str, Any],
) -> tuple[bytes, Basic.Properties]:
    properties = Basic.Properties(
        content_type=CONTENT_TYPE,
        delivery_mode=DeliveryMode.PERSISTENT.value,
        message_id=message_id,
        message_type=message_type,
        correlation_id=correlation_id,
        headers=headers,
    )
    return msgspec.json.encode(envelope), properties
