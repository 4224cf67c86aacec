from __future__ import annotations

import attrs

from application.auth import Principal
from application.errors import NotFound
from application.ports.clock import Clock
from application.ports.unit_of_work import UnitOfWorkFactory
from application.webhooks.views import WebhookView
from domain.common.ids import TenantId, WebhookId
from domain.tenants.api_key import Scope


@attrs.frozen
class WebhookRef:
    actor: Principal
    tenant_id: TenantId
    webhook_id: WebhookId


class GetWebhook:
    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    async def execute(self, data: WebhookRef) -> WebhookView:
        data.actor.require(Scope.READ, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            subscription = await uow.webhooks.get(data.tenant_id, data.webhook_id)
        if subscription is None:
            raise NotFound("webhook not found")
        return WebhookView.of(subscription, self._clock.now())
