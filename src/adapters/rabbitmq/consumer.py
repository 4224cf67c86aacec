"""Consuming from RabbitMQ on the FastStream broker's connection, without FastStream's per-message pipeline
(middlewares, context, decoding, a dishka scope of its own): measured at ~40 % of the worker's CPU per
event. Each consumer has its own robust channel (its prefetch; re-consumed after a reconnect) and
settles every message only once its handler has returned a verdict. Acks of handled messages are
coalesced per channel: one `multiple` ack covers the run of handled deliveries at the head of the
channel's outstanding ones, so a burst costs the broker and this process one ack frame, not one each."""

from __future__ import annotations

import asyncio
import enum
import logging
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import aiormq
import attrs
import msgspec
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustQueue
from aio_pika.exceptions import ChannelInvalidStateError
from aiormq.abc import AbstractChannel
from faststream.rabbit import Channel, RabbitBroker, RabbitExchange, RabbitQueue

logger = logging.getLogger(__name__)

ACK_DELAY_SECONDS = 0.02
DRAIN_SETTLE_SECONDS = 0.01


class Settlement(enum.Enum):
    ACK = "ack"
    # Dead-letter it (the queue's dead-letter exchange): it can never be handled.
    REJECT = "reject"
    # Put it back for a later delivery: a dependency is down.
    REQUEUE = "requeue"


@attrs.frozen
class Delivery:
    body: bytes
    message_id: str | None
    correlation_id: str | None
    headers: Mapping[str, Any]

    def envelope(self) -> dict[str, Any]:
        """The JSON object the publisher sent (ValueError if the body is not one)."""
        decoded = msgspec.json.decode(self.body)
        if not isinstance(decoded, dict):
            raise ValueError("the message body is not a JSON object")
        return decoded


DeliveryHandler = Callable[[Delivery], Awaitable[Settlement]]


class CoalescedAcks:
    """The settling of one channel's deliveries. A `multiple` ack covers every delivery up to its tag
    that the broker still counts as unsettled, so it only ever covers the handled run at the head of the
    outstanding ones; handled deliveries behind one still being handled are acked one by one, so a slow
    handler never holds the others' share of the prefetch window. Every frame is decided synchronously
    and sent in the order decided (one sender; a frame can wait for room in the connection's buffer), so
    an ack, reject or requeue of a tag always reaches the broker before a `multiple` ack past it.

    Handled deliveries wait up to ACK_DELAY_SECONDS for company before their ack goes (one frame for the
    broker and this process instead of one per message when events come one by one), unless half the
    prefetch window is waiting: with prefetch 1 every ack goes at once, since the next delivery waits
    for it. The handler's work is committed either way; a crash in between only redelivers, and
    consumers dedupe by message id."""

    def __init__(self, channel: AbstractChannel, prefetch: int) -> None:
        # Weakly: these records go when their channel does (they are kept by it, in a weak-key mapping).
        self._channel = weakref.ref(channel)
        self._outstanding: dict[int, bool] = {}
        self._handled = 0
        self._ack_at_once = max(prefetch // 2, 1)
        self._collect_scheduled = False
        self._delayed_collect: asyncio.TimerHandle | None = None
        # (tag, settlement, multiple), in the order decided.
        self._frames: deque[tuple[int, Settlement, bool]] = deque()
        self._sender: asyncio.Task[None] | None = None

    def received(self, tag: int) -> None:
        self._outstanding[tag] = False

    def handled(self, tag: int) -> None:
        self._outstanding[tag] = True
        self._handled += 1
        if self._handled >= self._ack_at_once:
            if not self._collect_scheduled:
                # After the handlers finishing in this turn of the loop, so they share one ack.
                self._collect_scheduled = True
                asyncio.get_running_loop().call_soon(self._collect)
        elif self._delayed_collect is None:
            self._delayed_collect = asyncio.get_running_loop().call_later(ACK_DELAY_SECONDS, self._collect)

    async def flush(self) -> None:
        """Send every ack decided or waiting now (before the connection closes, so nothing handled comes
        again)."""
        self._collect()
        if self._sender is not None:
            await asyncio.shield(self._sender)

    def settle_apart(self, tag: int, settlement: Settlement) -> None:
        """Reject or requeue one delivery."""
        del self._outstanding[tag]
        self._send(tag, settlement, multiple=False)

    def _collect(self) -> None:
        self._collect_scheduled = False
        if self._delayed_collect is not None:
            self._delayed_collect.cancel()
            self._delayed_collect = None
        head: list[int] = []
        behind: list[int] = []
        blocked = False
        for tag, handled in self._outstanding.items():
            if not handled:
                blocked = True
            elif blocked:
                behind.append(tag)
            else:
                head.append(tag)
        self._handled = 0
        for tag in behind:
            del self._outstanding[tag]
            self._send(tag, Settlement.ACK, multiple=False)
        for tag in head:
            del self._outstanding[tag]
        if head:
            self._send(head[-1], Settlement.ACK, multiple=len(head) > 1)

    def _send(self, tag: int, settlement: Settlement, *, multiple: bool) -> None:
        self._frames.append((tag, settlement, multiple))
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_in_order())

    async def _send_in_order(self) -> None:
        try:
            while self._frames:
                channel = self._channel()
                if channel is None:
                    return
                tag, settlement, multiple = self._frames.popleft()
                if settlement is Settlement.ACK:
                    await channel.basic_ack(tag, multiple=multiple, wait=False)
                elif settlement is Settlement.REJECT:
                    await channel.basic_reject(tag, requeue=False, wait=False)
                else:
                    await channel.basic_nack(tag, requeue=True, wait=False)
        except (aiormq.AMQPError, ChannelInvalidStateError, ConnectionError) as error:
            # The channel is gone, and with it every unsettled delivery: they come again, and consumers
            # dedupe by message id.
            self._frames.clear()
            logger.warning("could not settle messages", extra={"error": f"{type(error).__name__}: {error}"})
        finally:
            self._sender = None


class Consumption:
    """One queue's consumer, and the deliveries it took that are still being handled."""

    def __init__(self, queue: AbstractRobustQueue) -> None:
        self.queue = queue
        self.consumer_tag: str | None = None
        self._handling = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextmanager
    def handling(self) -> Iterator[None]:
        self._handling += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._handling -= 1
            if not self._handling:
                self._idle.set()

    async def cancel(self) -> None:
        tag, self.consumer_tag = self.consumer_tag, None
        if tag is None or self.queue.channel.is_closed:
            return
        try:
            await self.queue.cancel(tag)
        except (aiormq.AMQPError, ChannelInvalidStateError, ConnectionError) as error:
            # The channel went with its consumer: what it had taken and not settled is back in the queue.
            logger.warning("could not cancel a consumer", extra={"error": f"{type(error).__name__}: {error}"})

    async def drained(self) -> None:
        """Once every delivery taken before the cancel is handled. Those that arrived just before the
        cancel-ok reach their handler a couple of loop turns later (aiormq, then aio-pika, each start a task
        for a delivery): the pause lets them register first."""
        await asyncio.sleep(DRAIN_SETTLE_SECONDS)
        await self._idle.wait()


class RabbitConsumers:
    """The worker's consumers: each queue on a channel of its own, the handler's verdict settling each
    message after the handler returned (so after its transaction committed)."""

    def __init__(self, broker: RabbitBroker) -> None:
        self._broker = broker
        # By the AMQP channel a delivery came on: a reconnect brings new channels, and with them new tags.
        self._acks: weakref.WeakKeyDictionary[AbstractChannel, CoalescedAcks] = weakref.WeakKeyDictionary()
        self._consuming: list[Consumption] = []

    async def declare(
        self, queue: RabbitQueue, *, prefetch: int, bound_to: RabbitExchange | None = None
    ) -> AbstractRobustQueue:
        """Declare `queue` on a channel of its own with this prefetch, bound to `bound_to` with the queue's
        routing key when given. Through FastStream's declarer, which keeps the first declaration of a queue:
        later declarations by name (consuming it, binding more patterns) get this queue, on this channel."""
        declared: AbstractRobustQueue = await self._broker.config.declarer.declare_queue(
            queue, channel=Channel(prefetch_count=prefetch, publisher_confirms=False)
        )
        if bound_to is not None:
            exchange = await self._broker.declare_exchange(bound_to)
            await declared.bind(exchange, routing_key=queue.routing())
        return declared

    async def consume(
        self, queue: RabbitQueue, handle: DeliveryHandler, *, prefetch: int, bound_to: RabbitExchange | None = None
    ) -> Consumption:
        """Declare `queue` (see `declare`) and hand every delivery to `handle`. Consuming the same queue again
        after `stop` reuses its channel."""
        declared = await self.declare(queue, prefetch=prefetch, bound_to=bound_to)
        consumption = Consumption(declared)

        async def deliver(message: AbstractIncomingMessage) -> None:
            with consumption.handling():
                await self._deliver(message, handle, prefetch)

        consumption.consumer_tag = await declared.consume(deliver, no_ack=False)
        self._consuming.append(consumption)
        return consumption

    async def stop(self, consumption: Consumption) -> None:
        """Stop one queue's consumer once the deliveries it took are handled and their acks are sent, so
        another process consuming the queue next never runs alongside them."""
        if consumption in self._consuming:
            self._consuming.remove(consumption)
        await consumption.cancel()
        await consumption.drained()
        await self._flush()

    async def cancel(self) -> None:
        """Stop taking deliveries and send the acks still waiting (deliveries being handled still settle
        while the connection lasts)."""
        consuming, self._consuming = self._consuming, []
        for consumption in consuming:
            await consumption.cancel()
        await self._flush()

    async def _flush(self) -> None:
        for acks in list(self._acks.values()):
            await acks.flush()

    async def _deliver(self, message: AbstractIncomingMessage, handle: DeliveryHandler, prefetch: int) -> None:
        channel = message.channel
        tag = message.delivery_tag
        assert tag is not None, "deliveries of a consumer without no_ack carry a delivery tag"
        acks = self._acks.get(channel)
        if acks is None:
            acks = self._acks[channel] = CoalescedAcks(channel, prefetch)
        acks.received(tag)
        # An exception or a cancellation leaves the delivery outstanding: unacked, it comes again.
        settlement = await handle(
            Delivery(
                body=message.body,
                message_id=message.message_id,
                correlation_id=message.correlation_id,
                headers=message.headers,
            )
        )
        if settlement is Settlement.ACK:
            acks.handled(tag)
        else:
            acks.settle_apart(tag, settlement)
