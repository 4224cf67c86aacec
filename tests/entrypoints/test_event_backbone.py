"""The event backbone end to end, on real Postgres and RabbitMQ (and the embedded transport): what a use
case commits reaches topic subscribers and tenant webhooks exactly once, what it rolls back reaches
nobody, a broker restart or a relay crash loses and duplicates nothing that consumers can see."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aio_pika
import attrs
import pytest
import sqlalchemy as sa
from dishka import AsyncContainer
from faststream.rabbit import RabbitBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.system.clock import SystemClock
from application.events.relay_outbox import RelayOutbox, RelayOutboxInput
from application.ports.events import EventPublisher, OutboxFeed, OutboxKind, TaskQueue
from application.ports.tasks import Task
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import TenantId
from domain.events import Event
from domain.webhooks.delivery import RetryPolicy
from entrypoints.ioc.containers import make_worker_container
from entrypoints.settings import Settings
from entrypoints.worker.registry import WorkerHandlers
from tests.support.api import Client, create_tenant
from tests.support.webhook_receiver import WebhookReceiver, webhook_receiver
from tests.support.worker import TRANSPORTS, delete_topology, eventually, running_worker, worker_settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def documented_verifier() -> Callable[[bytes, str, str], bool]:
    """The signature check exactly as docs/events.md tells receivers to write it."""
    code = re.search(r"```python\n(.*?def verify_metachat_signature.*?)```", DOCS.read_text(), re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)
    verify: Callable[[bytes, str, str], bool] = namespace["verify_metachat_signature"]
    return verify


@attrs.define
class Recorder:
    """A topic subscriber: what arrived, and which effects were applied once (consumer-side dedupe)."""

    events: list[Event] = attrs.field(factory=list)
    effects: list[uuid.UUID] = attrs.field(factory=list)

    def of_type(self, event_type: str) -> list[Event]:
        return [event for event in self.events if event.type == event_type]

    def handlers(self, patterns: tuple[str, ...] = ("#",)) -> WorkerHandlers:
        handlers = WorkerHandlers()

        async def record(request: AsyncContainer, event: Event) -> None:
            self.events.append(event)
            uow_factory = await request.get(UnitOfWorkFactory)
            async with uow_factory(event.tenant_id) as uow:
                first = await uow.processed_messages.record(event.tenant_id, "recorder", event.id)
                await uow.commit()
            if first:
                self.effects.append(event.id)

        handlers.events.subscribe("recorder", patterns, record)
        return handlers


@pytest.fixture(params=TRANSPORTS)
async def backbone(request: pytest.FixtureRequest, settings: Settings, rabbitmq_url: str) -> AsyncIterator[Settings]:
    configured = worker_settings(settings, rabbitmq_url if request.param == "rabbitmq" else None)
    yield configured
    if configured.rabbitmq_url:
        await delete_topology(configured, ["recorder"])


@pytest.fixture
async def rabbit_backbone(settings: Settings, rabbitmq_url: str) -> AsyncIterator[Settings]:
    configured = worker_settings(settings, rabbitmq_url)
    yield configured
    await delete_topology(configured, ["recorder"])


@pytest.fixture
def embedded_backbone(settings: Settings) -> Settings:
    return worker_settings(settings, None)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with webhook_receiver() as started:
        yield started


async def add_webhook(client: Client, tenant_id: str, url: str, event_types: list[str]) -> dict[str, Any]:
    response = await client.post(f"/api/tenants/{tenant_id}/webhooks", json={"url": url, "event_types": event_types})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def rename(client: Client, tenant_id: str, name: str) -> None:
    response = await client.patch(f"/api/tenants/{tenant_id}", json={"name": name})
    assert response.status_code == 200, response.text


async def deliveries(client: Client, tenant_id: str, webhook_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/tenants/{tenant_id}/webhooks/{webhook_id}/deliveries")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def commit_events(settings: Settings, events: list[Event], *, commit: bool = True) -> None:
    container = make_worker_container(settings)
    try:
        uow_factory = await container.get(UnitOfWorkFactory)
        for event in events:
            async with uow_factory(event.tenant_id) as uow:
                await uow.outbox.add([event])
                if commit:
                    await uow.commit()
    finally:
        await container.close()


def numbered(tenant_id: str, count: int, aggregate: str = "tenant:burst") -> list[Event]:
    return [
        Event(type="tenant.updated", tenant_id=TenantId(uuid.UUID(tenant_id)), data={"n": n}, aggregate_key=aggregate)
        for n in range(count)
    ]


async def test_a_committed_event_reaches_a_topic_subscriber_and_the_webhook_exactly_once(
    client: Client, backbone: Settings, receiver: WebhookReceiver
) -> None:
    tenant = await create_tenant(client)
    hook = await add_webhook(client, tenant["id"], receiver.url(), ["tenant.updated"])
    recorder = Recorder()
    async with running_worker(backbone, recorder.handlers()):
        await rename(client, tenant["id"], "Renamed")
        [request] = await receiver.wait_for("/hook", 1)
        await eventually(lambda: len(recorder.of_type("tenant.updated")) == 1)
        await asyncio.sleep(0.5)  # room for a duplicate to show up, if there were one

    assert len(receiver.requests) == 1
    [updated] = recorder.of_type("tenant.updated")
    assert recorder.of_type("tenant.created")[0].data["name"] == "Acme"
    assert Counter(event.id for event in recorder.events).most_common(1)[0][1] == 1
    envelope = json.loads(request.body)
    assert envelope == {
        "id": str(updated.id),
        "type": "tenant.updated",
        "tenant_id": tenant["id"],
        "occurred_at": updated.occurred_at.isoformat(),
        "version": 1,
        "data": {"tenant_id": tenant["id"], "name": "Renamed"},
    }
    assert request.headers["x-metachat-event"] == "tenant.updated"
    assert documented_verifier()(request.body, request.headers["x-metachat-signature"], hook["signing_secret"])
    assert not documented_verifier()(
        request.body + b" ", request.headers["x-metachat-signature"], hook["signing_secret"]
    )
    [delivery] = await deliveries(client, tenant["id"], hook["webhook"]["id"])
    assert request.headers["x-metachat-delivery"] == delivery["id"]
    assert (delivery["status"], [attempt["status_code"] for attempt in delivery["attempts"]]) == ("delivered", [200])


async def test_a_rolled_back_transaction_publishes_nothing(client: Client, backbone: Settings) -> None:
    tenant = await create_tenant(client)
    recorder = Recorder()
    rolled_back, committed = numbered(tenant["id"], 2)
    async with running_worker(backbone, recorder.handlers()):
        await commit_events(backbone, [rolled_back], commit=False)
        await commit_events(backbone, [committed])
        # Same aggregate, relayed in order: had the first existed it would have arrived before this one.
        await eventually(lambda: committed.id in {event.id for event in recorder.events})
    assert rolled_back.id not in {event.id for event in recorder.events}


async def test_one_tenants_events_never_reach_another_tenants_webhook(
    client: Client, backbone: Settings, receiver: WebhookReceiver
) -> None:
    first, second = await create_tenant(client, "First"), await create_tenant(client, "Second")
    await add_webhook(client, first["id"], receiver.url("/first"), ["*"])
    await add_webhook(client, second["id"], receiver.url("/second"), ["*"])
    async with running_worker(backbone):
        for round_ in range(3):
            await rename(client, first["id"], f"First {round_}")
            await rename(client, second["id"], f"Second {round_}")
        await receiver.wait_for("/first", 3)
        await receiver.wait_for("/second", 3)
        await asyncio.sleep(0.3)
    for path, tenant in (("/first", first), ("/second", second)):
        bodies = [json.loads(request.body) for request in receiver.received(path)]
        assert {body["tenant_id"] for body in bodies} == {tenant["id"]}
        assert len(bodies) == 3


async def test_tasks_of_one_ordering_key_run_in_order_and_failing_ones_are_dead_lettered(
    client: Client, backbone: Settings
) -> None:
    tenant_id = TenantId(uuid.UUID((await create_tenant(client))["id"]))
    handled: dict[str, list[int]] = {"a": [], "b": []}
    handlers = WorkerHandlers()

    async def append(request: AsyncContainer, task: Task) -> None:
        await asyncio.sleep(0.001 * (task.payload["n"] % 3))
        handled[task.payload["key"]].append(task.payload["n"])

    async def explode(request: AsyncContainer, task: Task) -> None:
        raise RuntimeError("this task can never succeed")

    handlers.tasks.register("test.append", append)
    handlers.tasks.register("test.explode", explode)
    tasks = [
        Task(name="test.append", tenant_id=tenant_id, payload={"key": key, "n": n}, ordering_key=key)
        for n in range(15)
        for key in ("a", "b")
    ]
    doomed = [
        Task(name="test.explode", tenant_id=tenant_id, payload={}),
        Task(name="test.nobody-handles-this", tenant_id=tenant_id, payload={}),
    ]
    container = make_worker_container(backbone)
    uow_factory = await container.get(UnitOfWorkFactory)
    async with running_worker(backbone, handlers):
        for task in [*tasks[:10], *doomed, *tasks[10:]]:
            async with uow_factory(tenant_id) as uow:
                await uow.outbox.add_tasks([task])
                await uow.commit()
        await eventually(lambda: len(handled["a"]) + len(handled["b"]) == 30)
        assert handled == {"a": list(range(15)), "b": list(range(15))}
        if backbone.rabbitmq_url:
            dead = await dead_task_names(backbone, expected=2)
        else:
            dead = await dead_letter_types(container, expected=2)
    await container.close()
    assert sorted(dead) == ["test.explode", "test.nobody-handles-this"]


async def dead_task_names(settings: Settings, expected: int) -> list[str]:
    assert settings.rabbitmq_url is not None
    names: list[str] = []
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(f"{settings.events.namespace}.tasks.dead", ensure=False)
        for _ in range(200):
            message = await queue.get(fail=False, no_ack=True)
            if message is not None:
                names.append(json.loads(message.body)["name"])
            elif len(names) >= expected:
                break
            else:
                await asyncio.sleep(0.05)
    return names


async def dead_letter_types(container: AsyncContainer, expected: int) -> list[str]:
    engine = await container.get(AsyncEngine)
    rows: list[str] = []

    async def read() -> None:
        async with engine.connect() as connection:
            rows[:] = (await connection.execute(sa.text("SELECT type FROM dead_letters"))).scalars().all()

    for _ in range(200):
        await read()
        if len(rows) >= expected:
            break
        await asyncio.sleep(0.05)
    return rows


async def test_a_receiver_failing_twice_gets_three_attempts_with_growing_delays(
    client: Client, embedded_backbone: Settings, receiver: WebhookReceiver
) -> None:
    tenant = await create_tenant(client)
    hook = await add_webhook(client, tenant["id"], receiver.url("/flaky"), ["tenant.updated"])
    receiver.scripts["/flaky"] = [500, 500]
    async with running_worker(embedded_backbone):
        await rename(client, tenant["id"], "Renamed")
        first, second, third = await receiver.wait_for("/flaky", 3)
        await asyncio.sleep(0.2)
    assert len(receiver.received("/flaky")) == 3
    # 0.3 s then 0.6 s (±10 %): the second pause is clearly the longer one.
    assert 0.25 < second.at - first.at < third.at - second.at
    assert len({request.headers["x-metachat-delivery"] for request in (first, second, third)}) == 1
    [delivery] = await deliveries(client, tenant["id"], hook["webhook"]["id"])
    assert delivery["status"] == "delivered"
    assert [(a["status_code"], a["outcome"]) for a in delivery["attempts"]] == [
        (500, "retry"),
        (500, "retry"),
        (200, "delivered"),
    ]


async def test_permanent_rejections_are_not_retried_and_dead_letters_can_be_replayed(
    client: Client, embedded_backbone: Settings, receiver: WebhookReceiver
) -> None:
    tenant = await create_tenant(client)
    gone = await add_webhook(client, tenant["id"], receiver.url("/gone"), ["tenant.updated"])
    await add_webhook(client, tenant["id"], receiver.url("/bad"), ["tenant.updated"])
    receiver.scripts["/gone"] = [410]
    receiver.scripts["/bad"] = [400]
    async with running_worker(embedded_backbone):
        await rename(client, tenant["id"], "Renamed")
        await receiver.wait_for("/gone", 1)
        await receiver.wait_for("/bad", 1)
        await asyncio.sleep(1.2)  # twice the first retry delay: a retry would have come by now
        assert (len(receiver.received("/gone")), len(receiver.received("/bad"))) == (1, 1)

        [dead] = await deliveries(client, tenant["id"], gone["webhook"]["id"])
        assert (dead["status"], dead["attempts"][0]["outcome"], dead["last_status_code"]) == ("dead", "dead", 410)
        base = f"/api/tenants/{tenant['id']}/webhooks/{gone['webhook']['id']}/deliveries/{dead['id']}/replay"
        replayed = await client.post(base)
        assert replayed.status_code == 202, replayed.text
        [_, again] = await receiver.wait_for("/gone", 2)
        assert again.headers["x-metachat-delivery"] == dead["id"]
        await asyncio.sleep(0.3)
        [redelivered] = await deliveries(client, tenant["id"], gone["webhook"]["id"])
    assert (redelivered["status"], [a["status_code"] for a in redelivered["attempts"]]) == ("delivered", [410, 200])
    assert (await client.post(base)).status_code == 409


async def test_events_committed_while_rabbitmq_is_down_all_arrive_once_it_is_back(
    client: Client, rabbit_backbone: Settings
) -> None:
    tenant = await create_tenant(client)
    recorder = Recorder()
    burst = numbered(tenant["id"], 20)
    async with running_worker(rabbit_backbone, recorder.handlers()):
        await eventually(lambda: bool(recorder.of_type("tenant.created")))
        try:
            await rabbitmqctl("stop_app")
            await commit_events(rabbit_backbone, burst)
            await asyncio.sleep(0.5)  # the relay tries, fails and keeps the rows
        finally:
            await rabbitmqctl("start_app")
            await rabbitmqctl("await_startup")
        expected = [event.id for event in burst]
        await eventually(lambda: set(expected) <= {event.id for event in recorder.events}, within=30)
        await asyncio.sleep(0.5)
    arrived = [event.id for event in recorder.events if event.id in set(expected)]
    assert arrived == expected  # all of them, once each, in commit order


async def rabbitmqctl(*arguments: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", *arguments, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()


class KilledAfterPublishing:
    """A relay process that dies right after the broker confirmed, before it could mark the rows."""

    def __init__(self, feed: OutboxFeed) -> None:
        self._feed = feed

    def claim(self, kind: OutboxKind, limit: int) -> Any:
        feed = self._feed

        class Claim:
            async def __aenter__(self) -> Any:
                self._inner = feed.claim(kind, limit)
                claim = await self._inner.__aenter__()

                async def killed() -> None:
                    raise SystemExit("relay killed")

                claim.mark_published = killed
                return claim

            async def __aexit__(self, *exc: object) -> None:
                await self._inner.__aexit__(*exc)

        return Claim()

    async def prune(self, *, published_before_seconds: float) -> int:
        return 0


async def test_a_relay_killed_between_publish_and_mark_keeps_effects_single(
    client: Client, rabbit_backbone: Settings, receiver: WebhookReceiver
) -> None:
    tenant = await create_tenant(client)
    await add_webhook(client, tenant["id"], receiver.url(), ["tenant.updated"])
    recorder = Recorder()
    async with running_worker(rabbit_backbone, recorder.handlers()):
        await eventually(lambda: bool(recorder.of_type("tenant.created")))
    # The worker is gone; its durable queue stays. Another relay publishes and dies before marking.
    [event] = numbered(tenant["id"], 1)
    await commit_events(rabbit_backbone, [event])
    container = make_worker_container(rabbit_backbone)
    try:
        await (await container.get(RabbitBroker)).connect()
        relay = RelayOutbox(
            KilledAfterPublishing(await container.get(OutboxFeed)),
            await container.get(EventPublisher),
            await container.get(TaskQueue),
            SystemClock(),
            RetryPolicy(window=timedelta(hours=1)),
        )
        with pytest.raises(SystemExit):
            await relay.execute(RelayOutboxInput(kind=OutboxKind.EVENT))
    finally:
        await container.close()

    async with running_worker(rabbit_backbone, recorder.handlers()):
        # The restarted worker consumes the copy already queued and relays the still-pending row again.
        await eventually(lambda: len([e for e in recorder.events if e.id == event.id]) == 2)
        await receiver.wait_for("/hook", 1)
        await asyncio.sleep(0.5)
    assert recorder.effects.count(event.id) == 1
    assert len(receiver.requests) == 1


async def test_quorum_queues_carry_tasks(client: Client, settings: Settings, rabbitmq_url: str) -> None:
    quorum = attrs.evolve(
        worker_settings(settings, rabbitmq_url),
        events=attrs.evolve(worker_settings(settings, rabbitmq_url).events, queue_type="quorum", task_partitions=2),
    )
    tenant_id = TenantId(uuid.UUID((await create_tenant(client))["id"]))
    handled: list[uuid.UUID] = []
    handlers = WorkerHandlers()

    async def remember(request: AsyncContainer, task: Task) -> None:
        handled.append(task.id)

    handlers.tasks.register("test.remember", remember)
    task = Task(name="test.remember", tenant_id=tenant_id, payload={})
    try:
        async with running_worker(quorum, handlers):
            container = make_worker_container(quorum)
            uow_factory = await container.get(UnitOfWorkFactory)
            async with uow_factory(tenant_id) as uow:
                await uow.outbox.add_tasks([task])
                await uow.commit()
            await container.close()
            await eventually(lambda: handled == [task.id])
            listed = await rabbitmqctl("list_queues", "-q", "name", "type", "arguments")
        queue_line = next(line for line in listed.splitlines() if line.startswith(f"{quorum.events.namespace}.tasks.0"))
        assert "quorum" in queue_line
        assert "x-delivery-limit" in queue_line
    finally:
        await delete_topology(quorum, [])
