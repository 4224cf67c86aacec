"""Running the worker inside a test: its own container (like a separate `metachat worker` process) on
the test's database, RabbitMQ names under a throwaway namespace that is deleted afterwards."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aio_pika
import attrs
from dishka import AsyncContainer

from adapters.rabbitmq.topology import RabbitTopology
from entrypoints.ioc.containers import make_worker_container
from entrypoints.settings import EventSettings, Settings, WebhookSettings
from entrypoints.worker.registry import WorkerHandlers
from entrypoints.worker.runtime import WorkerServices, worker_services

TRANSPORTS = ["rabbitmq", "inprocess"]


def worker_settings(settings: Settings, rabbitmq_url: str | None, **webhooks: float) -> Settings:
    """Short pauses everywhere, so retries and reconnects happen within a test's patience."""
    return attrs.evolve(
        settings,
        rabbitmq_url=rabbitmq_url,
        events=EventSettings(
            namespace=f"test{uuid.uuid4().hex[:10]}",
            task_partitions=4,
            handler_attempts=2,
            handler_retry_seconds=0.05,
            relay_poll_seconds=0.5,
            broker_reconnect_seconds=0.5,
            confirm_timeout_seconds=3.0,
        ),
        webhooks=WebhookSettings(
            **{
                "timeout_seconds": 2.0,
                "poll_seconds": 0.5,
                "retry_first_delay_seconds": 0.3,
                "retry_multiplier": 2.0,
                "retry_jitter": 0.1,
                **webhooks,
            }
        ),
    )


@attrs.define
class RunningWorker:
    container: AsyncContainer
    services: WorkerServices


@asynccontextmanager
async def running_worker(settings: Settings, handlers: WorkerHandlers | None = None) -> AsyncIterator[RunningWorker]:
    container = make_worker_container(settings, handlers=handlers or WorkerHandlers())
    try:
        async with worker_services(container, settings) as services:
            yield RunningWorker(container, services)
    finally:
        await container.close()


def topology_of(settings: Settings) -> RabbitTopology:
    return RabbitTopology(namespace=settings.events.namespace, task_partitions=settings.events.task_partitions)


async def delete_topology(settings: Settings, consumers: list[str]) -> None:
    assert settings.rabbitmq_url is not None
    await delete_rabbit_topology(settings.rabbitmq_url, topology_of(settings), consumers)


async def delete_rabbit_topology(rabbitmq_url: str, topology: RabbitTopology, consumers: list[str]) -> None:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        queues = [topology.task_queue(index).name for index in range(topology.task_partitions)]
        queues += [topology.dead_task_queue.name, topology.dead_event_queue.name]
        queues += [topology.event_queue(consumer).name for consumer in consumers]
        for name in queues:
            await channel.queue_delete(name)
        for exchange in (topology.events_exchange, topology.tasks_exchange, topology.dead_exchange):
            await channel.exchange_delete(exchange.name)


async def eventually(check: Callable[[], bool], within: float = 10.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
