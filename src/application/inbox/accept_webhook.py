"""Acknowledge a Meta webhook fast: verify it, store each event once in the inbox, queue the worker."""

from __future__ import annotations

import asyncio
import hmac
import logging
from datetime import timedelta

import attrs

from application.auth import Principal
from application.channels.channel_registry import ChannelRegistry
from application.errors import Forbidden, NotFound
from application.inbox.channel_directory import ChannelDirectory
from application.inbox.inbox_writer import InboxWriter
from application.ports.channel_adapters import SignatureInvalid, SignatureMissing
from domain.channels.channel import Channel, ChannelKind
from domain.channels.inbox import InboxEntry
from domain.common.ids import ChannelId, TenantId, new_id
from domain.common.time import utc_now
from domain.tenants.api_key import Scope

logger = logging.getLogger(__name__)


@attrs.frozen
class PlatformWebhookSecrets:
    """The platform's own Meta app (META_APP_SECRET / META_VERIFY_TOKEN), shared by channels without one."""

    app_secret: str | None
    verify_token: str | None


@attrs.frozen
class AcceptWebhookInput:
    kind: ChannelKind
    body: bytes
    signature: str | None
    # Set on the per-channel URL of a tenant that brings its own Meta app.
    channel_id: ChannelId | None = None


@attrs.frozen
class AcceptWebhookResult:
    accepted: int
    duplicates: int
    unrouted: int
    skipped: int


@attrs.define
class WebhookCounters:
    """Running totals of this API process since it started (what the logs also say, one by one), read by
    the metrics endpoint: a scraper sums them over the processes behind the load balancer."""

    accepted: int = 0
    duplicates: int = 0
    unrouted: int = 0
    skipped: int = 0
    rejected: int = 0


class AcceptWebhook:
    def __init__(
        self,
        channels: ChannelRegistry,
        directory: ChannelDirectory,
        secrets: PlatformWebhookSecrets,
        writer: InboxWriter,
        counters: WebhookCounters,
    ) -> None:
        self._writer = writer
        self._channels = channels
        self._directory = directory
        self._secrets = secrets
        self.counters = counters

    async def execute(self, data: AcceptWebhookInput) -> AcceptWebhookResult:
        adapter = self._channels.inbound(data.kind)
        owner = await self._owner(data)
        secret = (owner.secret("app_secret") if owner else None) or self._secrets.app_secret
        try:
            if not data.signature:
                raise SignatureMissing("the X-Hub-Signature-256 header is missing")
            if secret is None:
                # Without the app secret the body cannot be trusted, so it is not even parsed.
                raise SignatureInvalid(
                    "no app secret is configured for this URL: set META_APP_SECRET or use the channel's own URL"
                )
            adapter.verify_signature(data.body, data.signature, secret)
        except (SignatureMissing, SignatureInvalid):
            self.counters.rejected += 1
            raise
        batch = adapter.split_webhook(data.body)
        received_at = utc_now()
        by_tenant: dict[TenantId, dict[tuple[ChannelId, str], InboxEntry]] = {}
        unrouted = 0
        for position, event in enumerate(batch.events):
            route = await self._directory.route(data.kind, event.external_id)
            if route is None or (owner is not None and route.tenant_id != owner.tenant_id):
                unrouted += 1
                logger.warning(
                    "webhook event for a number/page no channel owns",
                    extra={"kind": str(data.kind), "external_id": event.external_id},
                )
                continue
            # The same event twice in one body is stored once, like a redelivery.
            by_tenant.setdefault(route.tenant_id, {}).setdefault(
                (route.channel_id, event.event_key),
                InboxEntry(
                    id=new_id(),
                    tenant_id=route.tenant_id,
                    channel_id=route.channel_id,
                    kind=data.kind,
                    provider_event_key=event.event_key,
                    payload=event.payload,
                    contact_id=event.contact_id,
                    # A microsecond apart, in the body's order: the inbox orders a contact's events by it.
                    received_at=received_at + timedelta(microseconds=position),
                ),
            )
        if len(by_tenant) == 1:
            # The usual body (one number or page): awaited directly, without gather's task per tenant.
            ((tenant_id, entries),) = by_tenant.items()
            stored = [await self._writer.store(tenant_id, list(entries.values()))]
        else:
            stored = await asyncio.gather(
                *(self._writer.store(tenant_id, list(entries.values())) for tenant_id, entries in by_tenant.items())
            )
        accepted = sum(len(entries) for entries in stored)
        duplicates = len(batch.events) - unrouted - accepted
        self._count(accepted, duplicates, unrouted, batch.skipped)
        return AcceptWebhookResult(accepted=accepted, duplicates=duplicates, unrouted=unrouted, skipped=batch.skipped)

    async def _owner(self, data: AcceptWebhookInput) -> Channel | None:
        if data.channel_id is None:
            return None
        channel = await self._directory.channel(data.channel_id)
        if channel is None or channel.kind is not data.kind:
            raise NotFound("no such channel")
        return channel

    def _count(self, accepted: int, duplicates: int, unrouted: int, skipped: int) -> None:
        self.counters.accepted += accepted
        self.counters.duplicates += duplicates
        self.counters.unrouted += unrouted
        self.counters.skipped += skipped
        if skipped:
            logger.warning("unreadable parts of a signed webhook were skipped", extra={"skipped": skipped})


class ReadWebhookCounters:
    """The webhook totals of this process, for the platform's operators (admin keys)."""

    def __init__(self, counters: WebhookCounters) -> None:
        self._counters = counters

    async def execute(self, actor: Principal) -> WebhookCounters:
        actor.require(Scope.ADMIN)
        return attrs.evolve(self._counters)


@attrs.frozen
class SubscriptionCheck:
    kind: ChannelKind
    mode: str | None
    verify_token: str | None
    challenge: str | None
    channel_id: ChannelId | None = None


class VerifyWebhookSubscription:
    """Meta's GET handshake: echo the challenge when the verify token is ours, refuse otherwise."""

    def __init__(self, channels: ChannelRegistry, directory: ChannelDirectory, secrets: PlatformWebhookSecrets) -> None:
        self._channels = channels
        self._directory = directory
        self._secrets = secrets

    async def execute(self, data: SubscriptionCheck) -> str:
        self._channels.inbound(data.kind)
        expected = self._secrets.verify_token
        if data.channel_id is not None:
            channel = await self._directory.channel(data.channel_id)
            if channel is None or channel.kind is not data.kind:
                raise NotFound("no such channel")
            expected = channel.secret("verify_token") or expected
        if (
            data.mode != "subscribe"
            or not data.challenge
            or expected is None
            or data.verify_token is None
            or not hmac.compare_digest(data.verify_token.encode(), expected.encode())
        ):
            raise Forbidden("webhook verification failed")
        return data.challenge
