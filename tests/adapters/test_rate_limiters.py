"""One contract, two adapters: the in-process limiter (embedded mode) and the Redis one."""

from __future__ import annotations

import itertools
import math
import socket
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from adapters.memory.rate_limiter import MemoryNonceStore, MemoryRateLimiter, MemorySendPacer
from adapters.redis.rate_limiter import RedisNonceStore, RedisRateLimiter, RedisSendPacer
from application.ports.rate_limiter import NonceStore, RateLimiter, RateRule, SendPacer


@pytest.fixture(params=["memory", "redis"])
async def limiter_and_nonces(
    request: pytest.FixtureRequest, redis_url: str
) -> AsyncIterator[tuple[RateLimiter, NonceStore]]:
    if request.param == "memory":
        yield MemoryRateLimiter(), MemoryNonceStore()
        return
    client = Redis.from_url(redis_url)
    namespace = f"test:{uuid.uuid4().hex}"
    yield RedisRateLimiter(client, namespace=namespace), RedisNonceStore(client, namespace=namespace)
    await client.aclose()


async def test_limit_is_enforced_per_rule_key(limiter_and_nonces: tuple[RateLimiter, NonceStore]) -> None:
    limiter, _ = limiter_and_nonces
    rule = RateRule("key:a", limit=2, window_seconds=60)
    decisions = [await limiter.hit([rule]) for _ in range(3)]
    assert [decision.allowed for decision in decisions] == [True, True, False]
    assert 1 <= decisions[-1].retry_after_seconds <= 60
    assert (await limiter.hit([RateRule("key:b", limit=2)])).allowed


async def test_any_rule_over_its_limit_refuses(limiter_and_nonces: tuple[RateLimiter, NonceStore]) -> None:
    limiter, _ = limiter_and_nonces
    tenant = RateRule("tenant:t", limit=1)
    assert (await limiter.hit([RateRule("key:1", limit=10), tenant])).allowed
    refused = await limiter.hit([RateRule("key:2", limit=10), tenant])
    assert not refused.allowed


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def clocked_limiter(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[tuple[RateLimiter, _Clock]]:
    # Far from now, so the Redis keys' expiry (an absolute time) keeps them for the whole test.
    clock = _Clock(math.floor(time.time() / 60) * 60 + 3600.0)
    if request.param == "memory":
        yield MemoryRateLimiter(clock), clock
        return
    client = Redis.from_url(redis_url)
    yield RedisRateLimiter(client, namespace=f"test:{uuid.uuid4().hex}", clock=clock), clock
    await client.aclose()


async def test_a_full_budget_spent_before_a_window_edge_still_counts_after_it(
    clocked_limiter: tuple[RateLimiter, _Clock],
) -> None:
    limiter, clock = clocked_limiter
    rule = RateRule("visitor:v", limit=20, window_seconds=60)
    clock.now += 59.0
    assert all([(await limiter.hit([rule])).allowed for _ in range(20)])
    # Two seconds later a new fixed window has begun; the last minute still holds 20 hits.
    clock.now += 2.0
    refused = await limiter.hit([rule])
    assert not refused.allowed
    assert 1 <= refused.retry_after_seconds <= 60
    # Once the previous window has slid far enough out, there is room again.
    clock.now += 30.0
    assert (await limiter.hit([rule])).allowed


async def test_nonces_are_claimed_once(limiter_and_nonces: tuple[RateLimiter, NonceStore]) -> None:
    _, nonces = limiter_and_nonces
    assert await nonces.claim("sig:abc", 60)
    assert not await nonces.claim("sig:abc", 60)
    assert await nonces.claim("sig:def", 60)


async def test_send_slots_of_one_sender_are_spaced_by_its_rate() -> None:
    now = [100.0]
    pacer = MemorySendPacer(clock=lambda: now[0])
    waits = [await pacer.reserve("whatsapp:1", 4.0) for _ in range(4)]
    assert waits == [0.0, 0.25, 0.5, 0.75]
    assert await pacer.reserve("whatsapp:2", 4.0) == 0.0
    now[0] += 10
    assert await pacer.reserve("whatsapp:1", 4.0) == 0.0


async def test_send_slots_in_redis_are_shared_by_every_process(redis_url: str) -> None:
    # Two pacers on two connections stand for two worker processes sending for one phone number.
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    namespace = f"test:{uuid.uuid4().hex}"
    pacers: list[SendPacer] = [RedisSendPacer(first, namespace=namespace), RedisSendPacer(second, namespace=namespace)]
    try:
        waits = [await pacers[index % 2].reserve("whatsapp:1", 10.0) for index in range(6)]
        other = await pacers[1].reserve("whatsapp:2", 10.0)
        ttl = await first.pttl(f"{namespace}:whatsapp:1")
    finally:
        await first.aclose()
        await second.aclose()
    # Each reservation is 0.1 s after the one before, whichever process made it (minus the time the calls took).
    assert waits[0] == 0.0
    for earlier, later in itertools.pairwise(waits):
        assert 0.05 < later - earlier <= 0.1 + 1e-6, waits
    assert waits[-1] > 0.4
    assert other == 0.0
    # The slot record outlives the last reservation only briefly.
    assert 0 < ttl <= 2_000


async def test_an_unreachable_redis_does_not_hold_sends_back() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=0.5)
    try:
        assert await RedisSendPacer(client).reserve("whatsapp:1", 10.0) == 0.0
    finally:
        await client.aclose()
