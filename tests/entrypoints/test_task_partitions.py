"""TaskPartitions over real RabbitMQ and PostgreSQL: each task partition is consumed by one worker process at a
time (each TaskPartitions here, with its own broker connection and lease session, stands for a process), the
processes share the partitions fairly, a partition changes hands only once the task taken from it is done, and
a process that goes or loses its lease session leaves its partitions to the others."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import aio_pika
import asyncpg
import attrs
import pytest
from dishka import make_async_container
from faststream.rabbit import RabbitBroker

from adapters.postgres.partition_leases import PostgresPartitionLeases
from adapters.rabbitmq.consumer import Delivery, RabbitConsumers, Settlement
from adapters.rabbitmq.topology import RabbitTopology
from entrypoints.worker.dispatch import Dispatcher
from entrypoints.worker.partitions import TaskPartitions, fair_share
from entrypoints.worker.rabbit import RabbitWorkerTransport
from entrypoints.worker.registry import TaskHandlers, WorkerHandlers
from tests.support.worker import delete_rabbit_topology, eventually

PARTITIONS = 4


@attrs.define
class Process:
    name: str
    broker: RabbitBroker
    partitions: TaskPartitions


Handler = Callable[[str, Delivery], Awaitable[Settlement]]


@pytest.fixture
async def topology(rabbitmq_url: str) -> AsyncIterator[RabbitTopology]:
    topology = RabbitTopology(namespace=f"test-partitions-{uuid.uuid4().hex[:8]}", task_partitions=PARTITIONS)
    yield topology
    await delete_rabbit_topology(rabbitmq_url, topology, [])


@pytest.fixture
async def start_process(
    topology: RabbitTopology, rabbitmq_url: str, database_url: str
) -> AsyncIterator[Callable[[str, Handler], Awaitable[Process]]]:
    started: list[Process] = []

    async def start(name: str, handle: Handler) -> Process:
        broker = RabbitBroker(rabbitmq_url, apply_types=False)
        await broker.connect()
        await topology.declare_exchanges(broker)

        async def handle_here(delivery: Delivery) -> Settlement:
            return await handle(name, delivery)

        leases = PostgresPartitionLeases(database_url, namespace=topology.namespace)
        process = Process(name, broker, TaskPartitions(RabbitConsumers(broker), topology, leases, handle_here))
        started.append(process)
        return process

    yield start
    for process in started:
        await process.partitions.stop()
        await process.broker.stop()


async def publish_to_partitions(rabbitmq_url: str, topology: RabbitTopology, tag: str) -> None:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(topology.tasks_exchange.name)
        for partition in range(topology.task_partitions):
            await exchange.publish(aio_pika.Message(f"{tag}-{partition}".encode()), routing_key=str(partition))


def test_the_fair_shares_of_the_members_cover_every_partition() -> None:
    for partitions in (1, 4, 8, 16):
        for members in range(1, 20):
            assert fair_share(partitions, members) * members >= partitions
            assert (fair_share(partitions, members) - 1) * members < partitions


async def test_a_lone_process_consumes_every_partition_and_a_second_gets_its_share(
    start_process: Callable[[str, Handler], Awaitable[Process]], rabbitmq_url: str, topology: RabbitTopology
) -> None:
    handled: dict[str, str] = {}

    async def handle(process: str, delivery: Delivery) -> Settlement:
        handled[delivery.body.decode()] = process
        return Settlement.ACK

    first = await start_process("first", handle)
    await first.partitions.balance()
    assert first.partitions.consumed == set(range(PARTITIONS))

    second = await start_process("second", handle)
    await second.partitions.balance()
    assert second.partitions.consumed == set()  # all held: it waits for the first to give its surplus up
    await first.partitions.balance()
    await second.partitions.balance()
    assert len(first.partitions.consumed) == len(second.partitions.consumed) == PARTITIONS // 2
    assert first.partitions.consumed | second.partitions.consumed == set(range(PARTITIONS))

    # Rounds in a balanced group change nothing.
    before = (first.partitions.consumed, second.partitions.consumed)
    await first.partitions.balance()
    await second.partitions.balance()
    assert (first.partitions.consumed, second.partitions.consumed) == before

    # Every partition's tasks go to its holder, and to it alone.
    await publish_to_partitions(rabbitmq_url, topology, "task")
    await eventually(lambda: len(handled) == PARTITIONS)
    for partition in range(PARTITIONS):
        holder = first if partition in first.partitions.consumed else second
        assert handled[f"task-{partition}"] == holder.name


async def test_the_partitions_of_a_process_that_stopped_are_taken_over(
    start_process: Callable[[str, Handler], Awaitable[Process]],
) -> None:
    async def handle(process: str, delivery: Delivery) -> Settlement:
        return Settlement.ACK

    first = await start_process("first", handle)
    second = await start_process("second", handle)
    await first.partitions.balance()
    await second.partitions.balance()
    await first.partitions.balance()
    await second.partitions.balance()
    assert len(second.partitions.consumed) == PARTITIONS // 2

    await second.partitions.stop()
    await first.partitions.balance()
    assert first.partitions.consumed == set(range(PARTITIONS))


async def test_a_partition_changes_hands_only_once_the_task_taken_from_it_is_done(
    start_process: Callable[[str, Handler], Awaitable[Process]], rabbitmq_url: str, topology: RabbitTopology
) -> None:
    handled: list[tuple[str, str]] = []
    taken: list[str] = []
    finish = asyncio.Event()

    async def handle(process: str, delivery: Delivery) -> Settlement:
        taken.append(delivery.body.decode())
        await finish.wait()
        handled.append((process, delivery.body.decode()))
        return Settlement.ACK

    first = await start_process("first", handle)
    await first.partitions.balance()
    await publish_to_partitions(rabbitmq_url, topology, "slow")
    await eventually(lambda: len(taken) == PARTITIONS)

    second = await start_process("second", handle)
    await second.partitions.balance()
    giving_up = asyncio.create_task(first.partitions.balance())
    await asyncio.sleep(0.3)
    assert not giving_up.done()
    # Still held while their tasks run, so the second can take none of them.
    await second.partitions.balance()
    assert second.partitions.consumed == set()

    finish.set()
    await asyncio.wait_for(giving_up, timeout=10)
    await second.partitions.balance()
    assert len(second.partitions.consumed) == PARTITIONS // 2
    # Acked before the hand-over: the new holder gets none of them again.
    await asyncio.sleep(0.3)
    assert sorted(body for _, body in handled) == sorted(f"slow-{partition}" for partition in range(PARTITIONS))
    assert {process for process, _ in handled} == {"first"}


async def test_a_process_whose_lease_session_is_lost_stops_consuming_until_it_is_back(
    start_process: Callable[[str, Handler], Awaitable[Process]], db: asyncpg.Connection, topology: RabbitTopology
) -> None:
    async def handle(process: str, delivery: Delivery) -> Settlement:
        return Settlement.ACK

    first = await start_process("first", handle)
    await first.partitions.balance()
    assert first.partitions.consumed == set(range(PARTITIONS))
    await db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_locks"
        " WHERE locktype = 'advisory' AND objsubid = 2 AND classid = hashtext($1)::oid",
        f"{topology.namespace}:task-partitions",
    )

    # Its leases may be anyone's now: it stops consuming them all.
    await first.partitions.balance()
    assert first.partitions.consumed == set()
    second = await start_process("second", handle)
    await second.partitions.balance()
    assert second.partitions.consumed == set(range(PARTITIONS))

    # Back in the group, it takes its share once the second gives it up.
    await first.partitions.balance()
    await second.partitions.balance()
    await first.partitions.balance()
    assert len(first.partitions.consumed) == PARTITIONS // 2


async def test_a_worker_holding_no_partition_still_declares_and_binds_every_partition_queue(
    topology: RabbitTopology, rabbitmq_url: str, database_url: str
) -> None:
    # Another process holds every lease, so this worker consumes none of the partitions.
    elsewhere = PostgresPartitionLeases(database_url, namespace=topology.namespace)
    await elsewhere.reconnect()
    for partition in range(PARTITIONS):
        assert await elsewhere.take(partition)
    broker = RabbitBroker(rabbitmq_url, apply_types=False)
    leases = PostgresPartitionLeases(database_url, namespace=topology.namespace)
    transport = RabbitWorkerTransport(broker, topology, batch=10, leases=leases)
    container = make_async_container()
    try:
        await transport.start(Dispatcher(container, TaskHandlers(), attempts=1, retry_seconds=0), WorkerHandlers())

        # The relay publishes mandatory: each partition's task must find its queue.
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            channel = await connection.channel(on_return_raises=True)
            exchange = await channel.get_exchange(topology.tasks_exchange.name)
            for partition in range(PARTITIONS):
                await exchange.publish(aio_pika.Message(b"task"), routing_key=str(partition), mandatory=True)
                queue = await channel.declare_queue(topology.task_queue(partition).name, passive=True)
                assert queue.declaration_result.message_count == 1
    finally:
        await transport.stop()
        await container.close()
        await elsewhere.close()
