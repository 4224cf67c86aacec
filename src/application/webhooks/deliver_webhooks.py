"""The sending side of tenant webhooks: claim due deliveries, POST each signed, log every attempt."""

from __future__ import annotations

import random

import attrs

from application.ports.clock import Clock
from application.ports.security import SecretCipher
from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.webhooks import DueDelivery, WebhookRequest, WebhookSender
from application.webhooks.views import secret_context
from domain.webhooks.delivery import DeliveryAttempt, RetryPolicy
from domain.webhooks.signature import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signature_header

USER_AGENT = "MetaChat-Webhooks/1.0"


@attrs.frozen
class ClaimWebhookDeliveriesInput:
    limit: int
    # Longer than one attempt can take: a delivery claimed by a worker that died becomes due again then.
    lease_seconds: float
    per_webhook_limit: int


class ClaimWebhookDeliveries:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: ClaimWebhookDeliveriesInput) -> list[DueDelivery]:
        async with self._uow_factory(None) as uow:
            claimed = await uow.webhooks.claim_due(
                limit=data.limit, lease_seconds=data.lease_seconds, per_webhook_limit=data.per_webhook_limit
            )
            await uow.commit()
        return claimed


class SendWebhookDelivery:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        sender: WebhookSender,
        cipher: SecretCipher,
        clock: Clock,
        retry_policy: RetryPolicy,
    ) -> None:
        self._uow_factory = uow_factory
        self._sender = sender
        self._cipher = cipher
        self._clock = clock
        self._retry_policy = retry_policy

    async def execute(self, due: DueDelivery) -> DeliveryAttempt:
        delivery, subscription = due.delivery, due.subscription
        started = self._clock.now()
        body = delivery.body.encode()
        signing_secrets = [
            self._cipher.decrypt(encrypted, context=secret_context(subscription.id)).decode()
            for encrypted in subscription.signing_secrets_at(started)
        ]
        headers = {
            **subscription.headers,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature_header(signing_secrets, int(started.timestamp()), body),
            EVENT_HEADER: delivery.event_type,
            DELIVERY_HEADER: str(delivery.id),
        }
        result = await self._sender.send(WebhookRequest(url=subscription.url, headers=headers, body=body))
        attempt = delivery.record(
            result,
            attempted_at=started,
            finished_at=self._clock.now(),
            policy=self._retry_policy,
            unit_random=random.random(),
        )
        async with self._uow_factory(delivery.tenant_id) as uow:
            await uow.webhooks.record_attempt(delivery, attempt)
            await uow.commit()
        return attempt
