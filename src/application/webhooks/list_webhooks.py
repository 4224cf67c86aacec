from __future__ import annotations

import attrs

from application.auth import Principal
from application.errors import NotFound
from application.ports.clock import Clock
from application.ports.unit_of_work import UnitOfWorkFactory
from application.webhooks.views import WebhookView
from domain.common.ids import TenantId
from domain.tenants.api_key import Scope


@attrs.frozen
class ListWebhooksInput:
    actor: Principal
    tenant_id: TenantId


class ListWebhooks:
    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    async def execute(self, data: ListWebhooksInput) -> list[WebhookView]:
        data.actor.require(Scope.READ, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            if await uow.tenants.get(data.tenant_id) is None:
                raise NotFound("tenant not found")
            subscriptions = await uow.webhooks.list(data.tenant_id)
        now = self._clock.now()
        return [WebhookView.of(subscription, now) for subscription in subscriptions]
