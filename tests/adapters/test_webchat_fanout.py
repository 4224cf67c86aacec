"""The web chat fan-out: one contract for the in-process and the Redis transport, and what only Redis
does (reaching another process, resynchronising after a lost connection)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from adapters.webchat.memory_fanout import InProcessLiveFanout
from adapters.webchat.redis_fanout import RedisLiveFanout
from adapters.webchat.subscribers import LocalSubscribers
from application.ports.webchat import LiveEvent, LiveEventKind, LiveFanout, VisitorTopic
from domain.common.ids import ChannelId, TenantId


def _topic() -> VisitorTopic:
    return VisitorTopic(TenantId(uuid.uuid4()), ChannelId(uuid.uuid4()), f"v_{uuid.uuid4().hex}")


def _delta(text: str) -> LiveEvent:
    return LiveEvent(LiveEventKind.DELTA, {"reply_id": "r1", "text": text})


async def _next(events: AsyncIterator[LiveEvent]) -> LiveEvent:
    return await asyncio.wait_for(anext(events), 3)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(params=["in-process", "redis"])
async def fanout(request: pytest.FixtureRequest, redis_client: Redis) -> AsyncIterator[LiveFanout]:
    if request.param == "in-process":
        yield InProcessLiveFanout(LocalSubscribers())
        return
    redis_fanout = RedisLiveFanout(redis_client)
    yield redis_fanout
    await redis_fanout.close()


async def test_every_subscriber_of_a_topic_gets_its_events_in_order(fanout: LiveFanout) -> None:
    topic, other = _topic(), _topic()
    async with (
        fanout.subscribe(topic) as first_tab,
        fanout.subscribe(topic) as second_tab,
        fanout.subscribe(other) as stranger,
    ):
        for piece in ("Hel", "lo", "!"):
            await fanout.publish(topic, _delta(piece))

        for tab in (first_tab, second_tab):
            assert [(await _next(tab)).data["text"] for _ in range(3)] == ["Hel", "lo", "!"]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(stranger), 0.3)


async def test_events_published_before_subscribing_are_not_replayed(fanout: LiveFanout) -> None:
    topic = _topic()
    await fanout.publish(topic, _delta("early"))
    async with fanout.subscribe(topic) as events:
        await fanout.publish(topic, _delta("late"))
        assert (await _next(events)).data["text"] == "late"


async def test_a_reader_that_falls_behind_gets_one_resync_instead_of_a_backlog() -> None:
    fanout = InProcessLiveFanout(LocalSubscribers(capacity=3))
    topic = _topic()
    async with fanout.subscribe(topic) as events:
        for index in range(5):
            await fanout.publish(topic, _delta(str(index)))

        # 0-2 filled the queue; 3 overflowed it: the backlog became one resync, and 4 follows it.
        event = await _next(events)
        assert (event.kind, event.data) == (LiveEventKind.CHANGED, {"resync": True})
        assert (await _next(events)).data["text"] == "4"


async def test_redis_carries_events_to_another_process(redis_client: Redis, redis_url: str) -> None:
    api_process = RedisLiveFanout(redis_client)
    worker_client = Redis.from_url(redis_url)
    worker_process = RedisLiveFanout(worker_client)
    topic = _topic()
    try:
        async with api_process.subscribe(topic) as events:
            await worker_process.publish(topic, LiveEvent(LiveEventKind.CHANGED, {"expect": True}))
            event = await _next(events)
        assert (event.kind, event.data) == (LiveEventKind.CHANGED, {"expect": True})
        # The last local subscriber gone, the process stops listening to the topic.
        assert await redis_client.pubsub_numsub(topic.key) == [(topic.key.encode(), 0)]
    finally:
        await api_process.close()
        await worker_process.close()
        await worker_client.aclose()


async def test_redis_subscribers_resync_after_the_connection_drops(redis_client: Redis) -> None:
    fanout = RedisLiveFanout(redis_client)
    topic = _topic()
    try:
        async with fanout.subscribe(topic) as events:
            # Kill this process's pub/sub connection on the server side.
            clients = await redis_client.client_list(_type="pubsub")
            for client in clients:
                await redis_client.client_kill_filter(_id=client["id"])

            event = await _next(events)
            assert (event.kind, event.data) == (LiveEventKind.CHANGED, {"resync": True})
            # Resubscribed: later events arrive again.
            for _ in range(50):
                if await redis_client.pubsub_numsub(topic.key) == [(topic.key.encode(), 1)]:
                    break
                await asyncio.sleep(0.05)
            await fanout.publish(topic, _delta("back"))
            while (event := await _next(events)).kind is LiveEventKind.CHANGED:
                pass
            assert event.data["text"] == "back"
    finally:
        await fanout.close()


async def test_a_malformed_redis_message_is_dropped(redis_client: Redis) -> None:
    fanout = RedisLiveFanout(redis_client)
    topic = _topic()
    try:
        async with fanout.subscribe(topic) as events:
            await redis_client.publish(topic.key, b"{not json")
            await redis_client.publish(topic.key, b'{"kind": "nonsense"}')
            await fanout.publish(topic, _delta("fine"))
            assert (await _next(events)).data["text"] == "fine"
    finally:
        await fanout.close()
