"""Ports for tenant webhooks: their storage, the HTTP sender and the outbound address policy."""

from __future__ import annotations

import builtins
from collections.abc import Collection
from datetime import datetime
from typing import Protocol

import attrs

from application.ports.repositories import Page
from domain.common.ids import TenantId, WebhookId
from domain.webhooks.delivery import AttemptResult, DeliveryAttempt, DeliveryId, DeliveryStatus, WebhookDelivery
from domain.webhooks.subscription import WebhookSubscription


@attrs.frozen
class DeliveryRecord:
    delivery: WebhookDelivery
    attempts: list[DeliveryAttempt]


@attrs.frozen
class DueDelivery:
    """A claimed delivery with the subscription it goes to (URL, headers, secrets)."""

    delivery: WebhookDelivery
    subscription: WebhookSubscription


class WebhookRepository(Protocol):
    async def add(self, subscription: WebhookSubscription) -> None: ...

    async def get(self, tenant_id: TenantId, webhook_id: WebhookId) -> WebhookSubscription | None: ...

    async def list(self, tenant_id: TenantId) -> list[WebhookSubscription]: ...

    async def update(self, subscription: WebhookSubscription) -> None: ...

    async def delete(self, tenant_id: TenantId, webhook_id: WebhookId) -> bool: ...

    async def active_for(self, tenant_ids: Collection[TenantId]) -> builtins.list[WebhookSubscription]:
        """Active subscriptions of these tenants (the relay's fan-out)."""
        ...

    async def add_deliveries(self, deliveries: builtins.list[WebhookDelivery]) -> None:
        """Schedule deliveries; one per (webhook, event) however often this is called."""
        ...

    async def get_delivery(self, tenant_id: TenantId, delivery_id: DeliveryId) -> WebhookDelivery | None: ...

    async def list_deliveries(
        self,
        tenant_id: TenantId,
        webhook_id: WebhookId,
        *,
        limit: int,
        cursor: str | None,
        status: DeliveryStatus | None = None,
    ) -> Page[DeliveryRecord]:
        """Newest first, each with its attempt log."""
        ...

    async def update_delivery(self, delivery: WebhookDelivery) -> None: ...

    async def claim_due(
        self, *, limit: int, lease_seconds: float, per_webhook_limit: int
    ) -> builtins.list[DueDelivery]:
        """Platform-wide: take deliveries whose time has come (and ones whose claim lapsed), at most
        `per_webhook_limit` in flight per webhook so one slow receiver cannot hold every slot."""
        ...

    async def record_attempt(self, delivery: WebhookDelivery, attempt: DeliveryAttempt) -> None:
        """Store the attempt and the delivery's new state."""
        ...

    async def next_due_at(self) -> datetime | None:
        """When the earliest waiting delivery becomes due (None when nothing waits)."""
        ...


@attrs.frozen
class WebhookRequest:
    url: str
    headers: dict[str, str]
    body: bytes


class WebhookSender(Protocol):
    async def send(self, request: WebhookRequest) -> AttemptResult:
        """POST once; failures come back as a result, never as an exception."""
        ...


class WebhookUrlPolicy(Protocol):
    async def check(self, url: str) -> None:
        """Raise InvalidInput when the URL's host resolves to an address webhooks may not reach."""
        ...
