from __future__ import annotations

from application.errors import NotFound
from application.ports.unit_of_work import UnitOfWorkFactory
from application.webhooks.get_webhook import WebhookRef
from domain.tenants.api_key import Scope


class DeleteWebhook:
    """Removes the webhook with its pending deliveries and their log."""

    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: WebhookRef) -> None:
        data.actor.require(Scope.WRITE, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            if not await uow.webhooks.delete(data.tenant_id, data.webhook_id):
                raise NotFound("webhook not found")
            await uow.commit()
