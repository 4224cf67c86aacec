from __future__ import annotations

import asyncio
import uuid

import pytest

from adapters.inprocess.transport import InProcessEventBus, InProcessTaskQueue, topic_matches
from application.ports.tasks import Task
from domain.common.ids import TenantId
from domain.events import Event

TENANT = TenantId(uuid.uuid4())


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("#", "t.message.received", True),
        ("*.message.*", "t.message.received", True),
        ("*.message.*", "t.message.status.extra", False),
        ("*.message.#", "t.message.status.extra", True),
        ("t.#", "t.message.received", True),
        ("t.#", "u.message.received", False),
        ("*.tenant.updated", "t.tenant.updated", True),
        ("*.tenant.updated", "t.tenant.created", False),
        ("#.updated", "t.tenant.updated", True),
    ],
)
def test_topic_patterns_follow_amqp_semantics(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


def event(event_type: str, number: int = 0) -> Event:
    return Event(type=event_type, tenant_id=TENANT, data={"n": number}, aggregate_key="agg")


async def test_publish_returns_once_every_matching_subscriber_handled_the_events_in_order() -> None:
    bus = InProcessEventBus()
    handled: list[int] = []
    others: list[str] = []

    async def slow_consumer(received: Event) -> None:
        await asyncio.sleep(0.01)
        handled.append(received.data["n"])

    async def other_consumer(received: Event) -> None:
        others.append(received.type)

    bus.subscribe("slow", ["*.message.*"], slow_consumer)
    bus.subscribe("docs", ["*.document.#"], other_consumer)
    await bus.start()
    try:
        await bus.publish([event("message.received", n) for n in range(5)] + [event("document.indexed")])
        assert handled == [0, 1, 2, 3, 4]
        assert others == ["document.indexed"]
    finally:
        await bus.stop()


async def test_a_failing_subscriber_makes_publish_fail_so_the_relay_keeps_the_row() -> None:
    bus = InProcessEventBus()

    async def broken(received: Event) -> None:
        raise RuntimeError("consumer is broken")

    bus.subscribe("broken", ["#"], broken)
    await bus.start()
    try:
        with pytest.raises(RuntimeError, match="consumer is broken"):
            await bus.publish([event("message.received")])
    finally:
        await bus.stop()


async def test_tasks_with_one_ordering_key_run_one_at_a_time_in_order() -> None:
    queue = InProcessTaskQueue(partitions=4)
    running: set[str] = set()
    overlap: list[str] = []
    order: dict[str, list[int]] = {"a": [], "b": []}

    async def consume(task: Task) -> None:
        key = task.ordering_key or ""
        if key in running:
            overlap.append(key)
        running.add(key)
        await asyncio.sleep(0.002 * (task.payload["n"] % 3))
        order[key].append(task.payload["n"])
        running.discard(key)

    await queue.start(consume)
    try:
        tasks = [
            Task(name="inbox.process", tenant_id=TENANT, payload={"n": n}, ordering_key=key)
            for n in range(20)
            for key in ("a", "b")
        ]
        await asyncio.gather(queue.enqueue(tasks[:20]), queue.enqueue(tasks[20:]))
    finally:
        await queue.stop()
    assert order == {"a": list(range(20)), "b": list(range(20))}
    assert overlap == []


async def test_a_consumer_finishing_after_the_publisher_gave_up_keeps_running() -> None:
    bus = InProcessEventBus()
    release = asyncio.Event()
    handled: list[int] = []

    async def slow(received: Event) -> None:
        await release.wait()
        handled.append(received.data["n"])

    bus.subscribe("slow", ["#"], slow)
    await bus.start()
    try:
        publishing = asyncio.create_task(bus.publish([event("message.received", 1)]))
        await asyncio.sleep(0.01)
        publishing.cancel()  # the relay shutting down mid-publish
        release.set()
        await asyncio.sleep(0.01)
        async with asyncio.timeout(2):
            await bus.publish([event("message.received", 2)])
    finally:
        await bus.stop()
    assert handled == [1, 2]
