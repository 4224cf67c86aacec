from __future__ import annotations

import attrs

from application.auth import Principal
from application.errors import NotFound
from application.ports.clock import Clock
from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.webhooks import WebhookUrlPolicy
from application.webhooks.views import WebhookView
from domain.common.ids import TenantId, WebhookId
from domain.tenants.api_key import Scope


@attrs.frozen
class UpdateWebhookInput:
    actor: Principal
    tenant_id: TenantId
    webhook_id: WebhookId
    url: str
    event_types: tuple[str, ...]
    # None keeps the stored headers (their values are write-only); {} removes them all.
    headers: dict[str, str] | None
    active: bool
    description: str


class UpdateWebhook:
    def __init__(self, uow_factory: UnitOfWorkFactory, url_policy: WebhookUrlPolicy, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._url_policy = url_policy
        self._clock = clock

    async def execute(self, data: UpdateWebhookInput) -> WebhookView:
        data.actor.require(Scope.WRITE, data.tenant_id)
        await self._url_policy.check(data.url)
        now = self._clock.now()
        async with self._uow_factory(data.tenant_id) as uow:
            subscription = await uow.webhooks.get(data.tenant_id, data.webhook_id)
            if subscription is None:
                raise NotFound("webhook not found")
            subscription.reconfigure(
                url=data.url,
                event_types=data.event_types,
                headers=data.headers,
                active=data.active,
                description=data.description,
                moment=now,
            )
            await uow.webhooks.update(subscription)
            await uow.commit()
        return WebhookView.of(subscription, now)
