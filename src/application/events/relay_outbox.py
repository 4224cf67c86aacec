"""The relay: committed outbox rows go to the transport, and are marked published only once the
transport has accepted them. Tenant webhook deliveries are scheduled in the same transaction as the
mark, so each (event, webhook) pair gets exactly one delivery however often an event is relayed."""

from __future__ import annotations

import json

import attrs

from application.ports.clock import Clock
from application.ports.events import EventPublisher, OutboxClaim, OutboxFeed, OutboxKind, TaskQueue
from domain.webhooks.delivery import RetryPolicy, WebhookDelivery


@attrs.frozen
class RelayOutboxInput:
    kind: OutboxKind
    limit: int = 500


@attrs.frozen
class RelayOutboxResult:
    relayed: int
    deliveries_scheduled: int = 0
    # Nothing relayed because other relays hold every pending row: asking again at once is wasted work.
    busy: bool = False
    # The claim's window was full: more rows may be pending right now.
    more: bool = False


class RelayOutbox:
    def __init__(
        self,
        feed: OutboxFeed,
        publisher: EventPublisher,
        queue: TaskQueue,
        clock: Clock,
        retry_policy: RetryPolicy,
    ) -> None:
        self._feed = feed
        self._publisher = publisher
        self._queue = queue
        self._clock = clock
        self._retry_policy = retry_policy

    async def execute(self, data: RelayOutboxInput) -> RelayOutboxResult:
        async with self._feed.claim(data.kind, data.limit) as claim:
            if data.kind is OutboxKind.TASK:
                if not claim.tasks:
                    return RelayOutboxResult(relayed=0, busy=claim.busy)
                await self._queue.enqueue(claim.tasks)
                await claim.mark_published()
                return RelayOutboxResult(relayed=len(claim.tasks), more=claim.window_full)
            if not claim.events:
                return RelayOutboxResult(relayed=0, busy=claim.busy)
            await self._publisher.publish(claim.events)
            scheduled = await self._schedule_webhook_deliveries(claim)
            await claim.mark_published()
            return RelayOutboxResult(relayed=len(claim.events), deliveries_scheduled=scheduled, more=claim.window_full)

    async def _schedule_webhook_deliveries(self, claim: OutboxClaim) -> int:
        if not claim.webhook_tenants:
            return 0
        subscriptions = await claim.webhooks.active_for(claim.webhook_tenants)
        if not subscriptions:
            return 0
        now = self._clock.now()
        deliveries = []
        for event in claim.events:
            body: str | None = None
            for subscription in subscriptions:
                # A tenant's webhooks only ever see that tenant's events, and only those that happened
                # after the webhook was created (however late the relay runs).
                if (
                    subscription.tenant_id != event.tenant_id
                    or subscription.created_at > event.occurred_at
                    or not subscription.wants(event.type)
                ):
                    continue
                if body is None:
                    body = json.dumps(event.envelope(), separators=(",", ":"), ensure_ascii=False)
                deliveries.append(
                    WebhookDelivery.for_event(
                        tenant_id=event.tenant_id,
                        webhook_id=subscription.id,
                        event_id=event.id,
                        event_type=event.type,
                        body=body,
                        now=now,
                        policy=self._retry_policy,
                    )
                )
        await claim.webhooks.add_deliveries(deliveries)
        return len(deliveries)
