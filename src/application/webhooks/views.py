from __future__ import annotations

from datetime import datetime

import attrs

from application.ports.webhooks import DeliveryRecord
from domain.common.ids import EventId, TenantId, WebhookId
from domain.webhooks.delivery import DeliveryAttempt, DeliveryId, DeliveryStatus
from domain.webhooks.subscription import WebhookSubscription

MASK = "********"


def secret_context(webhook_id: WebhookId) -> bytes:
    """Associated data of a webhook's signing secret: the ciphertext only opens on its own row."""
    return b"webhook-secret:" + webhook_id.bytes


@attrs.frozen
class WebhookView:
    """A webhook as callers see it: header values and the signing secret are never shown again."""

    id: WebhookId
    tenant_id: TenantId
    url: str
    event_types: tuple[str, ...]
    headers: dict[str, str]
    active: bool
    description: str
    created_at: datetime
    updated_at: datetime
    previous_secret_expires_at: datetime | None

    @classmethod
    def of(cls, subscription: WebhookSubscription, now: datetime) -> WebhookView:
        expires = subscription.previous_secret_expires_at
        return cls(
            id=subscription.id,
            tenant_id=subscription.tenant_id,
            url=subscription.url,
            event_types=subscription.event_types,
            headers=dict.fromkeys(subscription.headers, MASK),
            active=subscription.active,
            description=subscription.description,
            created_at=subscription.created_at,
            updated_at=subscription.updated_at,
            previous_secret_expires_at=expires if expires is not None and expires > now else None,
        )


@attrs.frozen
class WebhookWithSecret:
    webhook: WebhookView
    # Shown once, at creation and after each rotation; only its ciphertext is kept.
    signing_secret: str


@attrs.frozen
class DeliveryView:
    id: DeliveryId
    webhook_id: WebhookId
    event_id: EventId
    event_type: str
    status: DeliveryStatus
    attempts: list[DeliveryAttempt]
    next_attempt_at: datetime | None
    retry_until: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime | None
    completed_at: datetime | None

    @classmethod
    def of(cls, record: DeliveryRecord) -> DeliveryView:
        delivery = record.delivery
        waiting = delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.DELIVERING)
        return cls(
            id=delivery.id,
            webhook_id=delivery.webhook_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            status=delivery.status,
            attempts=record.attempts,
            next_attempt_at=delivery.next_attempt_at if waiting else None,
            retry_until=delivery.retry_until,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            completed_at=delivery.completed_at,
        )
