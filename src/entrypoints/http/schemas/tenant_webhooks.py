from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from application.webhooks.replay_webhook_delivery import ReplayedDelivery
from application.webhooks.views import DeliveryView, WebhookView, WebhookWithSecret
from domain.webhooks.delivery import DeliveryAttempt
from entrypoints.http.schemas.common import Strict

WebhookUrl = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
# "message.received", "message.*", "*"
EventPattern = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
EventPatterns = Annotated[list[EventPattern], msgspec.Meta(min_length=1, max_length=50)]
HeaderValues = Annotated[
    dict[Annotated[str, msgspec.Meta(max_length=100)], Annotated[str, msgspec.Meta(max_length=2000)]],
    msgspec.Meta(max_length=20),
]
Description = Annotated[str, msgspec.Meta(max_length=500)]


class CreateWebhookBody(Strict):
    url: WebhookUrl
    event_types: EventPatterns = msgspec.field(default_factory=lambda: ["*"])
    # Sent with every delivery (e.g. the receiver's own Authorization); stored encrypted, never shown.
    headers: HeaderValues = msgspec.field(default_factory=dict)
    active: bool = True
    description: Description = ""


class ReplaceWebhookBody(Strict):
    url: WebhookUrl
    event_types: EventPatterns
    # Write-only: omit to keep the stored headers; {} removes them.
    headers: HeaderValues | None = None
    active: bool = True
    description: Description = ""


class RotateWebhookSecretBody(Strict):
    # Deliveries carry a second signature made with the old secret for this long.
    overlap_seconds: Annotated[int, msgspec.Meta(ge=0, le=7 * 86400)] = 86400


class WebhookResponse(msgspec.Struct):
    id: uuid.UUID
    tenant_id: uuid.UUID
    url: str
    event_types: list[str]
    # Header names with masked values.
    headers: dict[str, str]
    active: bool
    description: str
    created_at: datetime
    updated_at: datetime
    # Set while deliveries are still also signed with the secret that was rotated out.
    previous_secret_expires_at: datetime | None

    @classmethod
    def of(cls, view: WebhookView) -> WebhookResponse:
        return cls(
            id=view.id,
            tenant_id=view.tenant_id,
            url=view.url,
            event_types=list(view.event_types),
            headers=view.headers,
            active=view.active,
            description=view.description,
            created_at=view.created_at,
            updated_at=view.updated_at,
            previous_secret_expires_at=view.previous_secret_expires_at,
        )


class WebhookWithSecretResponse(msgspec.Struct):
    webhook: WebhookResponse
    # Shown once: store it now to verify X-MetaChat-Signature (docs/events.md).
    signing_secret: str

    @classmethod
    def of(cls, created: WebhookWithSecret) -> WebhookWithSecretResponse:
        return cls(webhook=WebhookResponse.of(created.webhook), signing_secret=created.signing_secret)


class DeliveryAttemptResponse(msgspec.Struct):
    number: int
    attempted_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None
    response_excerpt: str
    # "delivered", "retry" (another attempt is scheduled) or "dead".
    outcome: str

    @classmethod
    def of(cls, attempt: DeliveryAttempt) -> DeliveryAttemptResponse:
        return cls(
            number=attempt.number,
            attempted_at=attempt.attempted_at,
            duration_ms=round(attempt.duration_ms, 1),
            status_code=attempt.status_code,
            error=attempt.error,
            response_excerpt=attempt.response_excerpt,
            outcome=str(attempt.outcome),
        )


class DeliveryResponse(msgspec.Struct):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    # "pending", "delivering", "delivered" or "dead" (dead-lettered: replay it).
    status: str
    attempts: list[DeliveryAttemptResponse]
    next_attempt_at: datetime | None
    retry_until: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime | None
    completed_at: datetime | None

    @classmethod
    def of(cls, view: DeliveryView) -> DeliveryResponse:
        return cls(
            id=view.id,
            webhook_id=view.webhook_id,
            event_id=view.event_id,
            event_type=view.event_type,
            status=str(view.status),
            attempts=[DeliveryAttemptResponse.of(attempt) for attempt in view.attempts],
            next_attempt_at=view.next_attempt_at,
            retry_until=view.retry_until,
            last_status_code=view.last_status_code,
            last_error=view.last_error,
            created_at=view.created_at,
            completed_at=view.completed_at,
        )


class DeliveryPage(msgspec.Struct):
    items: list[DeliveryResponse]
    next_cursor: str | None


class ReplayedDeliveryResponse(msgspec.Struct):
    id: uuid.UUID
    status: str
    next_attempt_at: datetime

    @classmethod
    def of(cls, replayed: ReplayedDelivery) -> ReplayedDeliveryResponse:
        return cls(id=replayed.id, status=str(replayed.status), next_attempt_at=replayed.next_attempt_at)
