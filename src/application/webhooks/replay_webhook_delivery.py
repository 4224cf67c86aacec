from __future__ import annotations

from datetime import datetime

import attrs

from application.auth import Principal
from application.errors import Conflict, NotFound
from application.ports.clock import Clock
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import TenantId, WebhookId
from domain.tenants.api_key import Scope
from domain.webhooks.delivery import DeliveryId, DeliveryStatus, RetryPolicy


@attrs.frozen
class ReplayWebhookDeliveryInput:
    actor: Principal
    tenant_id: TenantId
    webhook_id: WebhookId
    delivery_id: DeliveryId


@attrs.frozen
class ReplayedDelivery:
    id: DeliveryId
    status: DeliveryStatus
    next_attempt_at: datetime


class ReplayWebhookDelivery:
    """Send a dead-lettered delivery again (same delivery id, so the receiver can still dedupe it)."""

    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock, retry_policy: RetryPolicy) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._retry_policy = retry_policy

    async def execute(self, data: ReplayWebhookDeliveryInput) -> ReplayedDelivery:
        data.actor.require(Scope.WRITE, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            delivery = await uow.webhooks.get_delivery(data.tenant_id, data.delivery_id)
            if delivery is None or delivery.webhook_id != data.webhook_id:
                raise NotFound("delivery not found")
            if delivery.status is not DeliveryStatus.DEAD:
                raise Conflict(
                    "only dead-lettered deliveries can be replayed", details={"status": str(delivery.status)}
                )
            delivery.replay(now=self._clock.now(), policy=self._retry_policy)
            await uow.webhooks.update_delivery(delivery)
            await uow.commit()
        assert delivery.next_attempt_at is not None
        return ReplayedDelivery(id=delivery.id, status=delivery.status, next_attempt_at=delivery.next_attempt_at)
