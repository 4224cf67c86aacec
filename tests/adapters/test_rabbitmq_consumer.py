"""The worker's RabbitMQ consumers: every message settled after its handler returned, acks of a burst
coalesced into one `multiple` ack that never covers a message still being handled or settled apart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import aio_pika
import pytest
from aiormq.abc import AbstractChannel
from faststream.rabbit import RabbitBroker, RabbitQueue

from adapters.rabbitmq.consumer import ACK_DELAY_SECONDS, CoalescedAcks, Delivery, RabbitConsumers, Settlement
from tests.support.worker import eventually


class RecordingChannel:
    """Stands in for an AMQP channel: the settlements sent on it, in order. While `room` is clear a send
    waits, as one does for room in a busy connection's frame buffer."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, bool]] = []
        self.room = asyncio.Event()
        self.room.set()

    async def basic_ack(self, delivery_tag: int, multiple: bool = False, wait: bool = True) -> None:
        await self.room.wait()
        self.sent.append(("ack", delivery_tag, multiple))

    async def basic_reject(self, delivery_tag: int, *, requeue: bool = True, wait: bool = True) -> None:
        await self.room.wait()
        self.sent.append(("reject", delivery_tag, requeue))

    async def basic_nack(
        self, delivery_tag: int, multiple: bool = False, requeue: bool = True, wait: bool = True
    ) -> None:
        await self.room.wait()
        self.sent.append(("nack", delivery_tag, requeue))


async def next_turns() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def acks_on(channel: RecordingChannel, tags: range, prefetch: int = 2) -> CoalescedAcks:
    # Prefetch 2: every handled delivery is acked in the turn of the loop it was handled in.
    acks = CoalescedAcks(cast(AbstractChannel, channel), prefetch)
    for tag in tags:
        acks.received(tag)
    return acks


async def test_a_burst_handled_in_one_turn_is_acked_with_one_multiple_ack() -> None:
    channel = RecordingChannel()
    acks = acks_on(channel, range(1, 6))
    for tag in (3, 1, 5, 2, 4):
        acks.handled(tag)
    await next_turns()
    assert channel.sent == [("ack", 5, True)]


async def test_a_multiple_ack_stops_before_a_message_still_being_handled() -> None:
    channel = RecordingChannel()
    acks = acks_on(channel, range(1, 5))
    for tag in (1, 2, 4):
        acks.handled(tag)
    await next_turns()
    # 3 is still running: 1-2 go together, 4 alone so it does not hold its prefetch slot.
    assert sorted(channel.sent) == [("ack", 2, True), ("ack", 4, False)]
    acks.handled(3)
    await next_turns()
    assert channel.sent[2:] == [("ack", 3, False)]


async def test_with_room_in_the_prefetch_window_acks_wait_a_moment_for_company() -> None:
    channel = RecordingChannel()
    acks = acks_on(channel, range(1, 4), prefetch=256)
    acks.handled(1)
    await next_turns()
    assert channel.sent == []
    await asyncio.sleep(ACK_DELAY_SECONDS / 2)
    acks.handled(2)
    await asyncio.sleep(ACK_DELAY_SECONDS)
    assert channel.sent == [("ack", 2, True)]
    # Stopping sends what is still waiting.
    acks.handled(3)
    await acks.flush()
    assert channel.sent[1:] == [("ack", 3, False)]


async def test_rejects_and_requeues_reach_the_broker_before_a_multiple_ack_past_them() -> None:
    channel = RecordingChannel()
    channel.room.clear()
    acks = acks_on(channel, range(1, 7))
    acks.handled(1)
    await next_turns()  # the ack of 1 now waits for room
    acks.settle_apart(2, Settlement.REJECT)
    acks.handled(4)
    acks.settle_apart(3, Settlement.REQUEUE)
    acks.handled(6)
    acks.handled(5)
    await next_turns()
    channel.room.set()
    await next_turns()
    # Were the multiple ack of 6 sent first, it would settle 2 and 3 as acked and their own frames
    # would then name tags the broker no longer knows, closing the channel.
    assert channel.sent == [("ack", 1, False), ("reject", 2, False), ("nack", 3, True), ("ack", 6, True)]


@pytest.fixture
async def broker(rabbitmq_url: str) -> AsyncIterator[RabbitBroker]:
    broker = RabbitBroker(rabbitmq_url, apply_types=False)
    await broker.connect()
    yield broker
    await broker.stop()


async def queue_depth(rabbitmq_url: str, name: str) -> int:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        count = queue.declaration_result.message_count
        await queue.delete(if_unused=False, if_empty=False)
    assert count is not None
    return count


async def publish(rabbitmq_url: str, queue: str, bodies: list[bytes]) -> None:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        for body in bodies:
            await channel.default_exchange.publish(aio_pika.Message(body, message_id=body.decode()), routing_key=queue)


async def test_a_slow_message_does_not_hold_back_the_rest_and_every_message_is_acked_once(
    broker: RabbitBroker, rabbitmq_url: str
) -> None:
    queue = RabbitQueue(f"test-consumer-{uuid.uuid4().hex}", durable=False)
    handled: list[str] = []
    rest_handled = asyncio.Event()
    count = 12

    async def handle(delivery: Delivery) -> Settlement:
        envelope: dict[str, Any] = delivery.envelope()
        if envelope["n"] == 0:
            # With prefetch 4 the other eleven only arrive if their acks are not waiting for this one.
            await asyncio.wait_for(rest_handled.wait(), timeout=10)
        handled.append(str(delivery.message_id))
        if len(handled) == count - 1:
            rest_handled.set()
        return Settlement.ACK

    consumers = RabbitConsumers(broker)
    await consumers.consume(queue, handle, prefetch=4)
    await publish(rabbitmq_url, queue.name, [b'{"n": %d}' % n for n in range(count)])
    await eventually(lambda: len(handled) == count, within=15)
    await asyncio.sleep(0.2)  # the last acks leave
    await consumers.cancel()
    await broker.stop()

    assert sorted(handled) == sorted(f'{{"n": {n}}}' for n in range(count))
    assert handled[-1] == '{"n": 0}'
    # Nothing came back unacked once the consumer's connection closed.
    assert await queue_depth(rabbitmq_url, queue.name) == 0


async def test_rejected_and_requeued_messages_are_settled_apart(broker: RabbitBroker, rabbitmq_url: str) -> None:
    queue = RabbitQueue(f"test-consumer-{uuid.uuid4().hex}", durable=False)
    seen: list[str] = []

    async def handle(delivery: Delivery) -> Settlement:
        name = str(delivery.message_id)
        seen.append(name)
        if name == "poison":
            return Settlement.REJECT
        if name == "later" and seen.count("later") == 1:
            return Settlement.REQUEUE
        return Settlement.ACK

    consumers = RabbitConsumers(broker)
    await consumers.consume(queue, handle, prefetch=8)
    await publish(rabbitmq_url, queue.name, [b"later", b"poison", b"fine"])
    await eventually(lambda: seen.count("later") == 2 and "fine" in seen, within=15)
    await asyncio.sleep(0.2)
    await consumers.cancel()
    await broker.stop()

    assert sorted(seen) == ["fine", "later", "later", "poison"]
    assert await queue_depth(rabbitmq_url, queue.name) == 0


async def test_a_stopped_consumer_returns_once_the_delivery_it_took_is_handled_and_acked(
    broker: RabbitBroker, rabbitmq_url: str
) -> None:
    queue = RabbitQueue(f"test-consumer-{uuid.uuid4().hex}", durable=False)
    handled: list[str] = []
    taken = asyncio.Event()
    finish = asyncio.Event()

    async def handle(delivery: Delivery) -> Settlement:
        taken.set()
        await finish.wait()
        handled.append(str(delivery.message_id))
        return Settlement.ACK

    consumers = RabbitConsumers(broker)
    consumption = await consumers.consume(queue, handle, prefetch=1)
    await publish(rabbitmq_url, queue.name, [b'{"n": %d}' % n for n in range(3)])
    await asyncio.wait_for(taken.wait(), timeout=10)

    stopping = asyncio.create_task(consumers.stop(consumption))
    await asyncio.sleep(0.3)
    # Another process may consume the queue once this returns: it must not while the first is handled.
    assert not stopping.done()
    finish.set()
    await asyncio.wait_for(stopping, timeout=10)
    await broker.stop()

    assert handled == ['{"n": 0}']
    # The first was acked before the stop returned; the other two were never taken.
    assert await queue_depth(rabbitmq_url, queue.name) == 2
