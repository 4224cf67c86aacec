"""Event backbone: committed-to-delivered throughput and commit-to-subscriber latency, with RabbitMQ and
in embedded mode (in-process transport).

Run: uv run python bench/events.py [--events 20000] [--rate 500] [--seconds 10]

Set-up, as deployed: an embedded PostgreSQL 18 with its default durability (fsync and synchronous
commit on); a producer process plays the API (each transaction stores its events in the outbox and
commits); worker processes run `worker_services` exactly as `metachat worker` does: the relay (woken by
LISTEN/NOTIFY) and one topic subscriber registered like any worker event consumer (on RabbitMQ the
worker's consumer with prefetch 256, acking after the handler; in embedded mode the in-process
queue). Latency runs from the producer sending COMMIT (so it includes the commit itself) to the
subscriber's handler starting, on the same wall clock. Producer and workers run on uvloop, as the
deployed processes do. A plain AMQP subscriber process shows what the backbone delivers to a consumer
outside the platform.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aio_pika
import attrs
import uvloop
from dishka import AsyncContainer

from adapters.crypto.aes_gcm import AesGcmSecretCipher, generate_encoded_key
from adapters.postgres import migrations
from adapters.postgres.embedded import start_embedded_postgres
from adapters.postgres.engine import make_engine
from adapters.postgres.notifications import OutboxWakeups
from adapters.postgres.unit_of_work import PostgresUnitOfWorkFactory
from adapters.rabbitmq.topology import RabbitTopology
from application.auth import Principal
from application.tenants.create_tenant import CreateTenant, CreateTenantInput
from domain.common.ids import TenantId
from domain.events import Event
from domain.tenants.api_key import ALL_SCOPES
from entrypoints.ioc.containers import make_worker_container
from entrypoints.settings import EventSettings, Settings
from entrypoints.worker.registry import WorkerHandlers
from entrypoints.worker.runtime import worker_services

RABBITMQ_URL = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
CONSUMER = "bench"
ResultT = TypeVar("ResultT")


def message_event(tenant_id: TenantId, conversation: int, number: int) -> Event:
    return Event(
        type="message.received",
        tenant_id=tenant_id,
        aggregate_key=f"conversation:{conversation}",
        data={
            "message_id": str(uuid.uuid4()),
            "conversation_id": str(uuid.uuid4()),
            "channel_id": str(uuid.uuid4()),
            "contact_id": "34600111222",
            "direction": "inbound",
            "type": "text",
            "text": f"Hello, I would like to know the opening hours of the shop (message {number})",
            "provider_message_id": f"wamid.{uuid.uuid4().hex}",
            "reply_to_provider_id": None,
            "occurred_at": "2026-11-25T12:00:00+00:00",
        },
    )


def run_as_deployed(main: Coroutine[Any, Any, ResultT]) -> ResultT:
    """On uvloop, the event loop `metachat api` and `metachat worker` run on."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


# --- the producer (a separate process, like the API) ---------------------------------------------------


@attrs.frozen
class ProducerJob:
    database_url: str
    secret_key: str
    tenant_id: TenantId
    count: int
    # Events per transaction; 0 rate means "as fast as the producers go".
    batch: int
    rate: float
    concurrency: int


def produce(job: ProducerJob, results: Any) -> None:
    results.put(run_as_deployed(_produce(job)))


async def _produce(job: ProducerJob) -> tuple[list[tuple[str, float]], float]:
    engine = make_engine(job.database_url, pool_size=job.concurrency, max_overflow=0)
    uow_factory = PostgresUnitOfWorkFactory(
        engine, AesGcmSecretCipher.from_encoded_key(job.secret_key), OutboxWakeups(relays_here=False)
    )
    committed: list[tuple[str, float]] = []
    transactions = job.count // job.batch
    semaphore = asyncio.Semaphore(job.concurrency)

    async def commit(index: int) -> None:
        events = [message_event(job.tenant_id, index % 200, index * job.batch + n) for n in range(job.batch)]
        async with semaphore, uow_factory(job.tenant_id) as uow:
            await uow.outbox.add(events)
            # Latency counts from the moment the commit is sent (it includes the commit itself): the
            # relay may publish before this process even sees the commit return.
            sent = time.time()
            await uow.commit()
        committed.extend((str(event.id), sent) for event in events)

    # Warm the pool so connection set-up is not counted as latency.
    await asyncio.gather(*(_touch(uow_factory, job.tenant_id) for _ in range(job.concurrency)))
    cpu_before = time.process_time()
    started = time.perf_counter()
    pending: list[asyncio.Task[None]] = []
    for index in range(transactions):
        if job.rate:
            delay = started + index * job.batch / job.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        pending.append(asyncio.create_task(commit(index)))
        if len(pending) >= 4 * job.concurrency:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    cpu = time.process_time() - cpu_before
    await engine.dispose()
    return committed, cpu


async def _touch(uow_factory: PostgresUnitOfWorkFactory, tenant_id: TenantId) -> None:
    async with uow_factory(tenant_id) as uow:
        await uow.tenants.get(tenant_id)


def run_producer(job: ProducerJob) -> tuple[list[tuple[str, float]], float]:
    """The commits (event id, moment COMMIT was sent) and the producer's CPU seconds."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=produce, args=(job, results))
    process.start()
    committed, cpu = results.get()
    process.join()
    return committed, cpu


# --- CPU accounting: what one event costs, process by process -----------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int], *, with_reaped_children: bool = False) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
        if with_reaped_children:
            total += int(fields[13]) + int(fields[14])  # cutime, cstime: backends that already exited
    return total / CLOCK_TICKS


def children_of(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def postgres_cpu(data_dir: Path) -> float:
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    return cpu_seconds([postmaster], with_reaped_children=True) + cpu_seconds(children_of(postmaster))


def rabbitmq_pids() -> list[int]:
    return [
        int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit() and b"beam.smp" in _cmdline(entry)
    ]


def _cmdline(entry: Path) -> bytes:
    try:
        return (entry / "cmdline").read_bytes()
    except OSError:
        return b""


# --- the workers (one process each, like `metachat worker`) ---------------------------------------------


@attrs.frozen
class WorkerChannels:
    ready: Any
    stop: Any
    arrived: Any
    results: Any


@attrs.define
class Arrivals:
    channels: WorkerChannels
    at: dict[str, float] = attrs.field(factory=dict)
    duplicates: int = 0

    def record(self, key: str) -> None:
        if key in self.at:
            self.duplicates += 1
            return
        self.at[key] = time.time()
        with self.channels.arrived.get_lock():
            self.channels.arrived.value += 1


def work(settings: Settings, channels: WorkerChannels, with_subscriber: bool) -> None:
    run_as_deployed(_work(settings, channels, with_subscriber))


async def _work(settings: Settings, channels: WorkerChannels, with_subscriber: bool) -> None:
    arrivals = Arrivals(channels)
    handlers = WorkerHandlers()

    async def arrived(request: AsyncContainer, event: Event) -> None:
        arrivals.record(str(event.id))

    if with_subscriber:
        # Order does not matter to this subscriber, so it takes 256 messages at a time.
        handlers.events.subscribe(CONSUMER, ["*.message.received"], arrived, prefetch=256)
    container = make_worker_container(settings, handlers=handlers)
    try:
        async with worker_services(container, settings):
            channels.ready.release()
            # A multiprocessing event: waited for in a thread so the loop keeps serving the worker.
            await asyncio.to_thread(channels.stop.wait)
    finally:
        await container.close()
    channels.results.put((arrivals.at, arrivals.duplicates))


def subscribe_plain(settings: Settings, channels: WorkerChannels) -> None:
    asyncio.run(_subscribe_plain(settings, channels))


async def _subscribe_plain(settings: Settings, channels: WorkerChannels) -> None:
    """A subscriber outside the platform (a tenant's system, another service): plain aio-pika on the
    topic exchange, prefetch 256, one ack per message."""
    arrivals = Arrivals(channels)
    topology = RabbitTopology(namespace=settings.events.namespace)
    connection = await aio_pika.connect_robust(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=256)
        exchange = await channel.declare_exchange(
            topology.events_exchange.name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(f"{settings.events.namespace}.plain", durable=True)
        await queue.bind(exchange, routing_key="*.message.received")

        async def arrived(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            arrivals.record(str(message.message_id))
            await message.ack()

        consumer_tag = await queue.consume(arrived)
        channels.ready.release()
        await asyncio.to_thread(channels.stop.wait)
        await queue.cancel(consumer_tag)
        await queue.delete(if_unused=False, if_empty=False)
    channels.results.put((arrivals.at, arrivals.duplicates))


@attrs.frozen
class Figures:
    events: int
    seconds: float
    producer_rate: float
    p50_ms: float
    p99_ms: float
    max_ms: float


def figures(committed: list[tuple[str, float]], arrivals: dict[str, float]) -> Figures:
    commits = dict(committed)
    latencies = sorted((arrivals[key] - commits[key]) * 1000 for key in commits)
    first_commit, last_commit = min(commits.values()), max(commits.values())
    return Figures(
        events=len(commits),
        seconds=max(arrivals[key] for key in commits) - first_commit,
        producer_rate=len(commits) / max(last_commit - first_commit, 1e-9),
        p50_ms=statistics.median(latencies),
        p99_ms=latencies[max(int(len(latencies) * 0.99) - 1, 0)],
        max_ms=latencies[-1],
    )


@attrs.frozen
class CpuCost:
    """CPU seconds spent while one job's events went from producer to subscriber, per component."""

    workers: float
    producer: float
    postgres: float
    rabbitmq: float

    @property
    def total(self) -> float:
        return self.workers + self.producer + self.postgres + self.rabbitmq


async def run_scenario(
    label: str,
    settings: Settings,
    jobs: dict[str, ProducerJob],
    *,
    workers: int,
    plain_subscriber: bool,
    postgres_dir: Path,
) -> None:
    context = multiprocessing.get_context("spawn")
    channels = WorkerChannels(context.Semaphore(0), context.Event(), context.Value("l", 0), context.Queue())
    processes = [context.Process(target=work, args=(settings, channels, not plain_subscriber)) for _ in range(workers)]
    if plain_subscriber:
        processes.append(context.Process(target=subscribe_plain, args=(settings, channels)))
    for process in processes:
        process.start()
    for _ in processes:
        await asyncio.to_thread(channels.ready.acquire)
    worker_pids = [process.pid for process in processes if process.pid is not None]
    broker_pids = rabbitmq_pids() if settings.rabbitmq_url else []

    def snapshot() -> tuple[float, float, float]:
        return cpu_seconds(worker_pids), postgres_cpu(postgres_dir), cpu_seconds(broker_pids)

    results: dict[str, tuple[list[tuple[str, float]], CpuCost]] = {}
    expected = 0
    try:
        for name, job in jobs.items():
            started = time.monotonic()
            before = snapshot()
            committed, producer_cpu = await asyncio.to_thread(run_producer, job)
            expected += len(committed)
            while channels.arrived.value < expected:
                if time.monotonic() - started > 300:
                    raise TimeoutError(f"{label}: only {channels.arrived.value} of {expected} events arrived")
                await asyncio.sleep(0.01)
            after = snapshot()
            results[name] = (
                committed,
                CpuCost(
                    workers=after[0] - before[0],
                    producer=producer_cpu,
                    postgres=after[1] - before[1],
                    rabbitmq=after[2] - before[2],
                ),
            )
    finally:
        channels.stop.set()
        arrivals: dict[str, float] = {}
        duplicates = 0
        for _ in processes:
            process_arrivals, process_duplicates = await asyncio.to_thread(channels.results.get)
            duplicates += process_duplicates
            for key, moment in process_arrivals.items():
                if key in arrivals:
                    duplicates += 1
                arrivals[key] = min(moment, arrivals.get(key, moment))
        for process in processes:
            process.join()
    print(f"\n[{label}] duplicates seen by the subscriber: {duplicates}")
    for name, (committed, cost) in results.items():
        measured = figures(committed, arrivals)
        per_event = cost.total / measured.events * 1e6
        print(
            f"  {name}: {measured.events} events delivered in {measured.seconds:.2f} s"
            f" = {measured.events / measured.seconds:,.0f} events/s"
            f" (producer committed {measured.producer_rate:,.0f}/s);"
            f" commit->subscriber p50 {measured.p50_ms:.1f} ms, p99 {measured.p99_ms:.1f} ms,"
            f" max {measured.max_ms:.1f} ms\n"
            f"    CPU per event {per_event:.0f} µs (workers {cost.workers / measured.events * 1e6:.0f},"
            f" producer {cost.producer / measured.events * 1e6:.0f},"
            f" postgres {cost.postgres / measured.events * 1e6:.0f},"
            f" rabbitmq {cost.rabbitmq / measured.events * 1e6:.0f})"
            f" -> ceiling on 2 idle cores ~{2e6 / per_event:,.0f} events/s"
        )


async def bench_mode(
    label: str, base: Settings, tenant_id: TenantId, args: argparse.Namespace, postgres_dir: Path
) -> None:
    rabbit = label == "rabbitmq"
    settings = attrs.evolve(
        base,
        rabbitmq_url=RABBITMQ_URL if rabbit else None,
        events=EventSettings(namespace=f"bench{uuid.uuid4().hex[:8]}"),
    )
    assert settings.database_url is not None
    assert settings.secret_key is not None
    common = {"database_url": settings.database_url, "secret_key": settings.secret_key, "tenant_id": tenant_id}
    jobs = {
        "throughput, 10 events per transaction": ProducerJob(
            **common, count=args.events, batch=10, rate=0, concurrency=16
        ),
        "throughput, 1 event per transaction": ProducerJob(
            **common, count=args.events // 2, batch=1, rate=0, concurrency=32
        ),
        f"latency at {args.rate} events/s, 1 event per transaction": ProducerJob(
            **common, count=args.rate * args.seconds, batch=1, rate=args.rate, concurrency=32
        ),
    }
    try:
        if not rabbit:
            # Embedded mode is one process by definition: relay and subscriber share it.
            await run_scenario(
                "embedded: relay + in-process subscriber, one process",
                settings,
                jobs,
                workers=1,
                plain_subscriber=False,
                postgres_dir=postgres_dir,
            )
            return
        # Two `metachat worker` replicas: their relays share the outbox, their consumers the queue.
        await run_scenario(
            "rabbitmq: 2 worker processes, relay + worker event consumer",
            settings,
            jobs,
            workers=2,
            plain_subscriber=False,
            postgres_dir=postgres_dir,
        )
        await delete_topology(settings)
        # A fresh namespace, so the worker consumer's queue no longer takes a copy of every event.
        settings = attrs.evolve(settings, events=EventSettings(namespace=f"bench{uuid.uuid4().hex[:8]}"))
        await run_scenario(
            "rabbitmq: 1 worker process (relay only) + a plain AMQP subscriber process (aio-pika)",
            settings,
            dict(list(jobs.items())[:1]),
            workers=1,
            plain_subscriber=True,
            postgres_dir=postgres_dir,
        )
    finally:
        if rabbit:
            await delete_topology(settings)


async def delete_topology(settings: Settings) -> None:
    topology = RabbitTopology(namespace=settings.events.namespace, task_partitions=settings.events.task_partitions)
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        for partition in range(topology.task_partitions):
            await channel.queue_delete(topology.task_queue(partition).name)
        for queue in (topology.dead_task_queue, topology.dead_event_queue, topology.event_queue(CONSUMER)):
            await channel.queue_delete(queue.name)
        for exchange in (topology.events_exchange, topology.tasks_exchange, topology.dead_exchange):
            await channel.exchange_delete(exchange.name)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--modes", nargs="+", choices=["rabbitmq", "embedded"], default=["rabbitmq", "embedded"])
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.2f} (other work skews results)")
    with tempfile.TemporaryDirectory() as data_dir:
        database = await start_embedded_postgres(Path(data_dir) / "postgres")
        try:
            await migrations.upgrade(database.url)
            base = Settings(data_dir=Path(data_dir), database_url=database.url, secret_key=generate_encoded_key())
            container = make_worker_container(base)
            async with container() as request:
                tenant = await (await request.get(CreateTenant)).execute(
                    CreateTenantInput(actor=Principal(key_id=None, tenant_id=None, scopes=ALL_SCOPES), name="Bench")
                )
            await container.close()
            for label in args.modes:
                await bench_mode(label, base, tenant.id, args, database.data_dir)
        finally:
            database.stop()


if __name__ == "__main__":
    asyncio.run(main())
