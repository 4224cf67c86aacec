from __future__ import annotations

from datetime import timedelta

import attrs

from application.auth import Principal
from application.errors import InvalidInput, NotFound
from application.ports.clock import Clock
from application.ports.security import SecretCipher
from application.ports.unit_of_work import UnitOfWorkFactory
from application.webhooks.views import WebhookView, WebhookWithSecret, secret_context
from domain.common.ids import TenantId, WebhookId
from domain.tenants.api_key import Scope
from domain.webhooks.signature import new_signing_secret

MAX_OVERLAP = timedelta(days=7)


@attrs.frozen
class RotateWebhookSecretInput:
    actor: Principal
    tenant_id: TenantId
    webhook_id: WebhookId
    # How long deliveries carry a second signature made with the old secret (0: switch at once).
    overlap_seconds: int = 86400


class RotateWebhookSecret:
    def __init__(self, uow_factory: UnitOfWorkFactory, cipher: SecretCipher, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._cipher = cipher
        self._clock = clock

    async def execute(self, data: RotateWebhookSecretInput) -> WebhookWithSecret:
        data.actor.require(Scope.WRITE, data.tenant_id)
        overlap = timedelta(seconds=data.overlap_seconds)
        if not timedelta(0) <= overlap <= MAX_OVERLAP:
            raise InvalidInput("overlap_seconds must be between 0 and 7 days", details={"field": "overlap_seconds"})
        secret = new_signing_secret()
        now = self._clock.now()
        async with self._uow_factory(data.tenant_id) as uow:
            subscription = await uow.webhooks.get(data.tenant_id, data.webhook_id)
            if subscription is None:
                raise NotFound("webhook not found")
            subscription.rotate_secret(
                self._cipher.encrypt(secret.encode(), context=secret_context(subscription.id)),
                previous_valid_until=now + overlap,
                moment=now,
            )
            await uow.webhooks.update(subscription)
            await uow.commit()
        return WebhookWithSecret(webhook=WebhookView.of(subscription, now), signing_secret=secret)
