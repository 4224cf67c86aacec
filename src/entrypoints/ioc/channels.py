"""Providers for Meta channels (Graph API client, adapters, webhook use cases) and file storage."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dishka import Provider, Scope, provide

from adapters.messenger.channel import MessengerChannel
from adapters.meta.graph_client import GraphApiClient
from adapters.postgres.delivery_outcomes import PostgresDeliveryOutcomes
from adapters.postgres.inbox_intake import PostgresInboxIntake
from adapters.postgres.notifications import OutboxWakeups
from adapters.postgres.reply_claims import PostgresReplyClaims
from adapters.postgres.tenant_sessions import TenantSessions
from adapters.storage.local_files import LocalBlobStorage
from adapters.webchat.channel import WebChatChannel
from adapters.whatsapp.channel import WhatsAppChannel
from application.channels.channel_registry import ChannelRegistry
from application.inbox.accept_webhook import (
    AcceptWebhook,
    PlatformWebhookSecrets,
    ReadWebhookCounters,
    VerifyWebhookSubscription,
    WebhookCounters,
)
from application.inbox.channel_directory import ChannelDirectory
from application.inbox.inbox_writer import InboxWriter
from application.inbox.process_inbox_entry import ProcessInboxEntry
from application.ports.blob_storage import BlobStorage
from application.ports.channel_gateway import ChannelGateway
from application.ports.delivery_outcomes import DeliveryOutcomes
from application.ports.inbox_intake import InboxIntake
from application.ports.rate_limiter import SendPacer
from application.ports.reply_claims import ReplyClaims
from application.ports.unit_of_work import UnitOfWorkFactory
from entrypoints.settings import ConfigurationError, Settings


class StorageProvider(Provider):
    scope = Scope.APP

    @provide
    def blob_storage(self, settings: Settings) -> BlobStorage:
        return LocalBlobStorage(settings.files_dir)


class ChannelsProvider(Provider):
    """Everything here is APP-scoped: a webhook acknowledgement builds no objects per request."""

    scope = Scope.APP

    @provide
    async def graph(self, settings: Settings, pacer: SendPacer) -> AsyncIterator[GraphApiClient]:
        client = GraphApiClient(settings.meta.graph_api_url, settings.meta.graph_api_version, pacer=pacer)
        yield client
        await client.aclose()

    @provide
    def registry(self, graph: GraphApiClient, webchat: WebChatChannel) -> ChannelRegistry:
        # A new channel kind is one adapter added to these lists (docs/adding-a-channel.md).
        # The web chat receives over its WebSocket, not webhooks, so it only sends.
        whatsapp, messenger = WhatsAppChannel(graph), MessengerChannel(graph)
        return ChannelRegistry(outbound=[whatsapp, messenger, webchat], inbound=[whatsapp, messenger])

    @provide
    def gateway(self, registry: ChannelRegistry) -> ChannelGateway:
        return registry

    @provide
    def directory(self, uow_factory: UnitOfWorkFactory) -> ChannelDirectory:
        return ChannelDirectory(uow_factory)

    @provide
    def platform_secrets(self, settings: Settings) -> PlatformWebhookSecrets:
        return PlatformWebhookSecrets(app_secret=settings.meta.app_secret, verify_token=settings.meta.verify_token)

    @provide
    async def tenant_sessions(self, settings: Settings, wakeups: OutboxWakeups) -> AsyncIterator[TenantSessions]:
        if settings.database_url is None:
            raise ConfigurationError("no database: start the embedded one before building the container")
        sessions = TenantSessions(settings.database_url, session_settings=wakeups.session_settings)
        await sessions.start()
        yield sessions
        await sessions.close()

    @provide
    def inbox_intake(self, sessions: TenantSessions, wakeups: OutboxWakeups) -> InboxIntake:
        return PostgresInboxIntake(sessions, wakeups)

    @provide
    def delivery_outcomes(self, sessions: TenantSessions, wakeups: OutboxWakeups) -> DeliveryOutcomes:
        return PostgresDeliveryOutcomes(sessions, wakeups)

    @provide
    def reply_claims(self, sessions: TenantSessions) -> ReplyClaims:
        return PostgresReplyClaims(sessions)

    @provide
    def inbox_writer(self, intake: InboxIntake) -> InboxWriter:
        return InboxWriter(intake)

    @provide
    def webhook_counters(self) -> WebhookCounters:
        return WebhookCounters()

    accept_webhook = provide(AcceptWebhook)
    read_webhook_counters = provide(ReadWebhookCounters)
    verify_subscription = provide(VerifyWebhookSubscription)

    @provide
    def process_inbox_entry(
        self, uow_factory: UnitOfWorkFactory, registry: ChannelRegistry, storage: BlobStorage, settings: Settings
    ) -> ProcessInboxEntry:
        return ProcessInboxEntry(uow_factory, registry, storage, max_media_bytes=settings.http.max_upload_bytes)
