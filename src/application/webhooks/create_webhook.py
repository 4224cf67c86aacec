from __future__ import annotations

import attrs

from application.auth import Principal
from application.errors import NotFound
from application.ports.clock import Clock
from application.ports.security import SecretCipher
from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.webhooks import WebhookUrlPolicy
from application.webhooks.views import WebhookView, WebhookWithSecret, secret_context
from domain.common.ids import TenantId, WebhookId, new_id
from domain.tenants.api_key import Scope
from domain.webhooks.signature import new_signing_secret
from domain.webhooks.subscription import WebhookSubscription


@attrs.frozen
class CreateWebhookInput:
    actor: Principal
    tenant_id: TenantId
    url: str
    event_types: tuple[str, ...]
    headers: dict[str, str] = attrs.field(factory=dict)
    active: bool = True
    description: str = ""


class CreateWebhook:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, cipher: SecretCipher, url_policy: WebhookUrlPolicy, clock: Clock
    ) -> None:
        self._uow_factory = uow_factory
        self._cipher = cipher
        self._url_policy = url_policy
        self._clock = clock

    async def execute(self, data: CreateWebhookInput) -> WebhookWithSecret:
        data.actor.require(Scope.WRITE, data.tenant_id)
        await self._url_policy.check(data.url)
        webhook_id = WebhookId(new_id())
        secret = new_signing_secret()
        now = self._clock.now()
        subscription = WebhookSubscription(
            id=webhook_id,
            tenant_id=data.tenant_id,
            url=data.url,
            event_types=data.event_types,
            secret_encrypted=self._cipher.encrypt(secret.encode(), context=secret_context(webhook_id)),
            headers=dict(data.headers),
            active=data.active,
            description=data.description,
            created_at=now,
            updated_at=now,
        )
        async with self._uow_factory(data.tenant_id) as uow:
            if await uow.tenants.get(data.tenant_id) is None:
                raise NotFound("tenant not found")
            await uow.webhooks.add(subscription)
            await uow.commit()
        return WebhookWithSecret(webhook=WebhookView.of(subscription, now), signing_secret=secret)
