from __future__ import annotations

import attrs

from application.auth import Principal
from application.errors import NotFound
from application.ports.repositories import Page
from application.ports.unit_of_work import UnitOfWorkFactory
from application.webhooks.views import DeliveryView
from domain.common.ids import TenantId, WebhookId
from domain.tenants.api_key import Scope
from domain.webhooks.delivery import DeliveryStatus


@attrs.frozen
class ListWebhookDeliveriesInput:
    actor: Principal
    tenant_id: TenantId
    webhook_id: WebhookId
    limit: int = 50
    cursor: str | None = None
    status: DeliveryStatus | None = None


class ListWebhookDeliveries:
    """The delivery log of one webhook, newest first, every attempt included."""

    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: ListWebhookDeliveriesInput) -> Page[DeliveryView]:
        data.actor.require(Scope.READ, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            if await uow.webhooks.get(data.tenant_id, data.webhook_id) is None:
                raise NotFound("webhook not found")
            page = await uow.webhooks.list_deliveries(
                data.tenant_id, data.webhook_id, limit=data.limit, cursor=data.cursor, status=data.status
            )
        return Page(items=[DeliveryView.of(record) for record in page.items], next_cursor=page.next_cursor)
