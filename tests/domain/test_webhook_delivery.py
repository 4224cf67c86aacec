from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.common.errors import InvariantViolation
from domain.common.ids import EventId, TenantId, WebhookId
from domain.webhooks.delivery import (
    AttemptOutcome,
    AttemptResult,
    DeliveryStatus,
    FailureKind,
    RetryPolicy,
    WebhookDelivery,
)
from domain.webhooks.subscription import WebhookSubscription

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(
    first_delay=timedelta(seconds=10),
    multiplier=2,
    max_delay=timedelta(hours=1),
    window=timedelta(hours=24),
    jitter=0.2,
)


def delivery(policy: RetryPolicy = POLICY) -> WebhookDelivery:
    return WebhookDelivery.for_event(
        tenant_id=TenantId(uuid.uuid4()),
        webhook_id=WebhookId(uuid.uuid4()),
        event_id=EventId(uuid.uuid4()),
        event_type="message.received",
        body="{}",
        now=NOW,
        policy=policy,
    )


def status(code: int, retry_after: timedelta | None = None) -> AttemptResult:
    return AttemptResult(duration_ms=5, status_code=code, retry_after=retry_after)


def test_backoff_grows_exponentially_within_the_jitter_band_and_is_capped() -> None:
    low = [POLICY.delay_after(attempt, unit_random=0.0).total_seconds() for attempt in range(1, 12)]
    high = [POLICY.delay_after(attempt, unit_random=0.999999).total_seconds() for attempt in range(1, 12)]
    assert low[:3] == pytest.approx([8, 16, 32])
    assert high[:3] == pytest.approx([12, 24, 48], rel=1e-4)
    assert max(high) == pytest.approx(3600 * 1.2, rel=1e-4)
    # Jitter never makes a later delay shorter than the one before it while below the cap.
    assert all(high[index] < low[index + 1] * 1.5 for index in range(4))


def test_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    assert POLICY.delay_after(1, unit_random=0.5, retry_after=timedelta(minutes=5)) == timedelta(minutes=5)
    assert POLICY.delay_after(1, unit_random=0.5, retry_after=timedelta(seconds=1)) == timedelta(seconds=10)


@pytest.mark.parametrize(
    ("result", "retryable"),
    [
        (status(500), True),
        (status(503), True),
        (status(429), True),
        (status(408), True),
        (AttemptResult(duration_ms=1, failure=FailureKind.TIMEOUT), True),
        (AttemptResult(duration_ms=1, failure=FailureKind.CONNECTION), True),
        (status(400), False),
        (status(404), False),
        (status(410), False),
        (status(301), False),
        (AttemptResult(duration_ms=1, failure=FailureKind.BLOCKED_ADDRESS), False),
    ],
)
def test_which_failures_are_retried(result: AttemptResult, retryable: bool) -> None:
    target = delivery()
    attempt = target.record(result, attempted_at=NOW, finished_at=NOW, policy=POLICY, unit_random=0.5)
    assert attempt.outcome is (AttemptOutcome.RETRY if retryable else AttemptOutcome.DEAD)
    assert target.status is (DeliveryStatus.PENDING if retryable else DeliveryStatus.DEAD)


def test_a_delivery_is_retried_until_its_window_closes_then_dead_lettered() -> None:
    target = delivery()
    moment = NOW
    outcomes = []
    while target.status is not DeliveryStatus.DEAD:
        attempt = target.record(status(503), attempted_at=moment, finished_at=moment, policy=POLICY, unit_random=0.5)
        outcomes.append(attempt.outcome)
        assert target.next_attempt_at is not None
        moment = target.next_attempt_at
    assert outcomes[-1] is AttemptOutcome.DEAD
    assert set(outcomes[:-1]) == {AttemptOutcome.RETRY}
    # 10 s doubling to the 1 h cap fills 24 h in about 30 attempts; none was scheduled past the window.
    assert 25 <= len(outcomes) <= 35
    assert moment <= NOW + timedelta(hours=24)


def test_success_completes_and_only_dead_deliveries_replay() -> None:
    target = delivery()
    target.record(status(204), attempted_at=NOW, finished_at=NOW, policy=POLICY, unit_random=0.5)
    assert target.status is DeliveryStatus.DELIVERED
    with pytest.raises(InvariantViolation):
        target.replay(now=NOW, policy=POLICY)

    dead = delivery()
    dead.record(status(410), attempted_at=NOW, finished_at=NOW, policy=POLICY, unit_random=0.5)
    later = NOW + timedelta(days=3)
    dead.replay(now=later, policy=POLICY)
    assert (dead.status, dead.next_attempt_at, dead.retry_until) == (
        DeliveryStatus.PENDING,
        later,
        later + timedelta(hours=24),
    )


def subscription(*patterns: str) -> WebhookSubscription:
    return WebhookSubscription(
        id=WebhookId(uuid.uuid4()),
        tenant_id=TenantId(uuid.uuid4()),
        url="https://hooks.example.com/in",
        event_types=patterns,
        secret_encrypted=b"current",
    )


def test_event_type_filters_with_wildcards() -> None:
    assert subscription("*").wants("conversation.handoff")
    messages = subscription("message.*", "document.indexed")
    assert messages.wants("message.received")
    assert messages.wants("document.indexed")
    assert not messages.wants("document.failed")
    assert not messages.wants("conversation.created")
    inactive = subscription("*")
    inactive.active = False
    assert not inactive.wants("message.received")


@pytest.mark.parametrize("patterns", [(), ("Message.Received",), ("message..received",), ("message received",)])
def test_bad_event_patterns_are_refused(patterns: tuple[str, ...]) -> None:
    with pytest.raises(InvariantViolation):
        subscription(*patterns)


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example.com/x", "hooks.example.com/x", "https://user:pw@hooks.example.com/x", "https:///x"]
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(InvariantViolation):
        WebhookSubscription(
            id=WebhookId(uuid.uuid4()),
            tenant_id=TenantId(uuid.uuid4()),
            url=url,
            event_types=("*",),
            secret_encrypted=b"x",
        )


def test_reserved_headers_cannot_be_overridden() -> None:
    with pytest.raises(InvariantViolation):
        subscription("*").reconfigure(
            url="https://hooks.example.com/in",
            event_types=("*",),
            headers={"X-MetaChat-Signature": "forged"},
            active=True,
            description="",
            moment=NOW,
        )


def test_a_rotated_out_secret_signs_alongside_the_new_one_until_it_expires() -> None:
    target = subscription("*")
    target.rotate_secret(b"next", previous_valid_until=NOW + timedelta(hours=1), moment=NOW)
    assert target.signing_secrets_at(NOW + timedelta(minutes=59)) == [b"next", b"current"]
    assert target.signing_secrets_at(NOW + timedelta(hours=1)) == [b"next"]
    target.rotate_secret(b"third", previous_valid_until=NOW, moment=NOW)
    assert target.signing_secrets_at(NOW) == [b"third"]
