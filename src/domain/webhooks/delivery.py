"""One event on its way to one tenant webhook: attempts, backoff, and the dead-letter end."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NewType

import attrs

from domain.common.errors import InvariantViolation
from domain.common.ids import EventId, TenantId, WebhookId, new_id

DeliveryId = NewType("DeliveryId", uuid.UUID)


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for next_attempt_at
    DELIVERING = "delivering"  # claimed by a worker until next_attempt_at (then claimable again)
    DELIVERED = "delivered"
    DEAD = "dead"  # retries exhausted or a response that retrying cannot fix; can be replayed


class AttemptOutcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"


class FailureKind(StrEnum):
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    # The URL resolved to an address the operator does not allow (SSRF guard): retrying cannot help.
    BLOCKED_ADDRESS = "blocked_address"


@attrs.frozen
class RetryPolicy:
    """Exponential backoff with jitter, inside a window that starts with the delivery."""

    first_delay: timedelta = timedelta(seconds=10)
    multiplier: float = 2.0
    max_delay: timedelta = timedelta(hours=1)
    window: timedelta = timedelta(hours=24)
    # Each delay is scaled by a factor drawn from [1 - jitter, 1 + jitter].
    jitter: float = 0.2

    def __attrs_post_init__(self) -> None:
        if self.first_delay <= timedelta(0) or self.multiplier < 1 or not 0 <= self.jitter < 1:
            raise InvariantViolation("retry policy needs a positive first delay, multiplier >= 1, jitter in [0, 1)")

    def delay_after(self, attempt: int, *, unit_random: float, retry_after: timedelta | None = None) -> timedelta:
        """Delay after the given (1-based) failed attempt; `unit_random` is a uniform draw from [0, 1)."""
        base = self.first_delay.total_seconds() * self.multiplier ** (attempt - 1)
        capped = min(base, self.max_delay.total_seconds())
        delay = timedelta(seconds=capped * (1 - self.jitter + 2 * self.jitter * unit_random))
        if retry_after is not None and retry_after > delay:
            # The receiver asked for a pause (429/503 Retry-After): never come back sooner.
            delay = retry_after
        return delay


@attrs.frozen
class AttemptResult:
    """What one POST came back with: a status code, or the kind of failure that prevented one."""

    duration_ms: float
    status_code: int | None = None
    failure: FailureKind | None = None
    error: str | None = None
    retry_after: timedelta | None = None
    response_excerpt: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        if self.status_code is not None:
            # 408 is the receiver's own timeout; 429 and 5xx are transient by definition.
            return self.status_code in (408, 429) or self.status_code >= 500
        return self.failure in (FailureKind.TIMEOUT, FailureKind.CONNECTION)


@attrs.frozen
class DeliveryAttempt:
    delivery_id: DeliveryId
    number: int
    attempted_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None
    response_excerpt: str
    outcome: AttemptOutcome


@attrs.define
class WebhookDelivery:
    id: DeliveryId
    tenant_id: TenantId
    webhook_id: WebhookId
    event_id: EventId
    event_type: str
    # The exact bytes sent on every attempt (decoded as UTF-8 JSON).
    body: str
    retry_until: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None

    @classmethod
    def for_event(
        cls,
        *,
        tenant_id: TenantId,
        webhook_id: WebhookId,
        event_id: EventId,
        event_type: str,
        body: str,
        now: datetime,
        policy: RetryPolicy,
    ) -> WebhookDelivery:
        return cls(
            id=DeliveryId(new_id()),
            tenant_id=tenant_id,
            webhook_id=webhook_id,
            event_id=event_id,
            event_type=event_type,
            body=body,
            retry_until=now + policy.window,
            next_attempt_at=now,
            created_at=now,
        )

    def record(
        self,
        result: AttemptResult,
        *,
        attempted_at: datetime,
        finished_at: datetime,
        policy: RetryPolicy,
        unit_random: float,
    ) -> DeliveryAttempt:
        """Apply one attempt's result: delivered, scheduled again with backoff, or dead."""
        self.attempts += 1
        self.last_status_code = result.status_code
        self.last_error = result.error
        if result.succeeded:
            outcome = AttemptOutcome.DELIVERED
            self.status = DeliveryStatus.DELIVERED
            self.completed_at = finished_at
        else:
            # Backoff counts from the end of the attempt, so a slow timeout never eats the pause.
            next_at = finished_at + policy.delay_after(
                self.attempts, unit_random=unit_random, retry_after=result.retry_after
            )
            if result.retryable and next_at <= self.retry_until:
                outcome = AttemptOutcome.RETRY
                self.status = DeliveryStatus.PENDING
                self.next_attempt_at = next_at
            else:
                outcome = AttemptOutcome.DEAD
                self.status = DeliveryStatus.DEAD
                self.completed_at = finished_at
        return DeliveryAttempt(
            delivery_id=self.id,
            number=self.attempts,
            attempted_at=attempted_at,
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            error=result.error,
            response_excerpt=result.response_excerpt,
            outcome=outcome,
        )

    def replay(self, *, now: datetime, policy: RetryPolicy) -> None:
        """A dead delivery goes out again (same delivery id, so receivers still dedupe), with a fresh window."""
        if self.status is not DeliveryStatus.DEAD:
            raise InvariantViolation(
                "only dead-lettered deliveries can be replayed", details={"status": str(self.status)}
            )
        self.status = DeliveryStatus.PENDING
        self.next_attempt_at = now
        self.retry_until = now + policy.window
        self.completed_at = None
