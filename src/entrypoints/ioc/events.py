"""dishka providers of the event backbone: the transport (RabbitMQ when RABBITMQ_URL is set, in-process
otherwise), the outbox relay, tenant webhooks, and the worker's handler registry and dispatcher."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from dishka import AsyncContainer, Provider, Scope, from_context, provide, provide_all
from faststream.rabbit import Channel, RabbitBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.httpx.address_policy import WebhookAddressPolicy
from adapters.httpx.webhook_sender import HttpxWebhookSender
from adapters.inprocess.transport import InProcessEventBus, InProcessTaskQueue
from adapters.postgres.outbox_feed import PostgresDeadLetters, PostgresOutboxFeed, make_relay_engine
from adapters.postgres.partition_leases import PostgresPartitionLeases
from adapters.rabbitmq.publisher import RabbitEventPublisher, RabbitTaskQueue
from adapters.rabbitmq.topology import RabbitTopology
from adapters.system.health import CallableProbe
from application.events.relay_outbox import RelayOutbox
from application.ports.events import DeadLetters, EventPublisher, OutboxFeed, TaskQueue
from application.ports.security import SecretCipher
from application.ports.webhooks import WebhookSender, WebhookUrlPolicy
from application.webhooks.create_webhook import CreateWebhook
from application.webhooks.delete_webhook import DeleteWebhook
from application.webhooks.deliver_webhooks import ClaimWebhookDeliveries, SendWebhookDelivery
from application.webhooks.get_webhook import GetWebhook
from application.webhooks.list_webhook_deliveries import ListWebhookDeliveries
from application.webhooks.list_webhooks import ListWebhooks
from application.webhooks.replay_webhook_delivery import ReplayWebhookDelivery
from application.webhooks.rotate_webhook_secret import RotateWebhookSecret
from application.webhooks.update_webhook import UpdateWebhook
from domain.webhooks.delivery import RetryPolicy
from entrypoints.ioc.providers import BrokerProbe
from entrypoints.settings import Settings
from entrypoints.worker.dispatch import Dispatcher
from entrypoints.worker.inprocess import InProcessWorkerTransport
from entrypoints.worker.rabbit import RabbitWorkerTransport
from entrypoints.worker.registry import WorkerHandlers
from entrypoints.worker.runtime import RelayStatus
from entrypoints.worker.transport import WorkerTransport


class RabbitMessagingProvider(Provider):
    scope = Scope.APP

    @provide
    def topology(self, settings: Settings) -> RabbitTopology:
        events = settings.events
        return RabbitTopology(
            namespace=events.namespace,
            task_partitions=events.task_partitions,
            queue_type=events.queue_type,
            delivery_limit=events.delivery_limit,
        )

    @provide
    async def broker(self, settings: Settings) -> AsyncIterator[RabbitBroker]:
        assert settings.rabbitmq_url is not None
        broker = RabbitBroker(
            settings.rabbitmq_url,
            # Confirms on the channel every publish goes through; unroutable mandatory publishes raise.
            default_channel=Channel(publisher_confirms=True, on_return_raises=True),
            reconnect_interval=settings.events.broker_reconnect_seconds,
            logger=logging.getLogger("metachat.broker"),
            log_level=logging.DEBUG,
            # The worker consumes without FastStream subscribers (adapters/rabbitmq/consumer): nothing to inject.
            apply_types=False,
        )
        yield broker
        await broker.stop()

    @provide
    def publisher(self, broker: RabbitBroker, topology: RabbitTopology, settings: Settings) -> EventPublisher:
        return RabbitEventPublisher(broker, topology, settings.events.confirm_timeout_seconds)

    @provide
    def queue(self, broker: RabbitBroker, topology: RabbitTopology, settings: Settings) -> TaskQueue:
        return RabbitTaskQueue(broker, topology, settings.events.confirm_timeout_seconds)

    @provide
    def partition_leases(self, settings: Settings, topology: RabbitTopology) -> PostgresPartitionLeases:
        assert settings.database_url is not None
        return PostgresPartitionLeases(settings.database_url, namespace=topology.namespace)

    @provide
    def transport(
        self, broker: RabbitBroker, topology: RabbitTopology, settings: Settings, leases: PostgresPartitionLeases
    ) -> WorkerTransport:
        return RabbitWorkerTransport(broker, topology, settings.events.relay_batch_size, leases)

    @provide
    def relay_status(self) -> RelayStatus:
        return RelayStatus()

    @provide
    def probe(self, broker: RabbitBroker) -> BrokerProbe:
        async def connection_alive() -> None:
            # The API process connects on the first check; the worker is connected from its start.
            await broker.connect()
            if not await broker.ping(timeout=2.0):
                raise ConnectionError("RabbitMQ connection is down")

        return BrokerProbe(CallableProbe("broker", connection_alive, required=True, mode="rabbitmq"))


class InProcessMessagingProvider(Provider):
    """Embedded mode. `hosts_worker`: whether this process runs the relay (API-only processes do not)."""

    scope = Scope.APP

    def __init__(self, *, hosts_worker: bool) -> None:
        super().__init__()
        self._hosts_worker = hosts_worker

    bus = provide(InProcessEventBus)

    @provide
    def publisher(self, bus: InProcessEventBus) -> EventPublisher:
        return bus

    @provide
    def task_queue(self, settings: Settings) -> InProcessTaskQueue:
        return InProcessTaskQueue(settings.events.task_partitions)

    @provide
    def queue(self, queue: InProcessTaskQueue) -> TaskQueue:
        return queue

    @provide
    def transport(
        self, bus: InProcessEventBus, queue: InProcessTaskQueue, dead_letters: DeadLetters, settings: Settings
    ) -> WorkerTransport:
        return InProcessWorkerTransport(bus, queue, dead_letters, lanes=settings.events.task_partitions)

    @provide
    def relay_status(self) -> RelayStatus:
        return RelayStatus()

    @provide
    def probe(self, status: RelayStatus) -> BrokerProbe:
        async def relay_running() -> None:
            if not status.running:
                raise RuntimeError("the in-process relay is not running")

        return BrokerProbe(CallableProbe("broker", relay_running, required=self._hosts_worker, mode="in-process"))


class EventBackboneProvider(Provider):
    scope = Scope.APP

    @provide
    async def outbox_feed(self, settings: Settings, cipher: SecretCipher) -> AsyncIterator[OutboxFeed]:
        assert settings.database_url is not None
        engine = make_relay_engine(settings.database_url)
        yield PostgresOutboxFeed(engine, cipher)
        await engine.dispose()

    @provide
    def dead_letters(self, engine: AsyncEngine) -> DeadLetters:
        return PostgresDeadLetters(engine)

    @provide
    def retry_policy(self, settings: Settings) -> RetryPolicy:
        webhooks = settings.webhooks
        return RetryPolicy(
            first_delay=timedelta(seconds=webhooks.retry_first_delay_seconds),
            multiplier=webhooks.retry_multiplier,
            max_delay=timedelta(seconds=webhooks.retry_max_delay_seconds),
            window=timedelta(hours=webhooks.retry_window_hours),
            jitter=webhooks.retry_jitter,
        )

    @provide
    def address_policy(self, settings: Settings) -> WebhookAddressPolicy:
        return WebhookAddressPolicy(allow_private=settings.allow_private_webhook_urls)

    @provide
    def url_policy(self, policy: WebhookAddressPolicy) -> WebhookUrlPolicy:
        return policy

    @provide
    async def sender(self, policy: WebhookAddressPolicy, settings: Settings) -> AsyncIterator[WebhookSender]:
        sender = HttpxWebhookSender(
            policy, timeout_seconds=settings.webhooks.timeout_seconds, max_connections=settings.webhooks.concurrency
        )
        yield sender
        await sender.aclose()

    use_cases = provide_all(
        RelayOutbox,
        CreateWebhook,
        ListWebhooks,
        GetWebhook,
        UpdateWebhook,
        DeleteWebhook,
        RotateWebhookSecret,
        ListWebhookDeliveries,
        ReplayWebhookDelivery,
        ClaimWebhookDeliveries,
        SendWebhookDelivery,
        scope=Scope.REQUEST,
    )


class WorkerProvider(Provider):
    scope = Scope.APP

    handlers = from_context(provides=WorkerHandlers, scope=Scope.APP)

    @provide
    def dispatcher(self, container: AsyncContainer, handlers: WorkerHandlers, settings: Settings) -> Dispatcher:
        return Dispatcher(
            container,
            handlers.tasks,
            attempts=settings.events.handler_attempts,
            retry_seconds=settings.events.handler_retry_seconds,
        )


def messaging_provider(settings: Settings, *, hosts_worker: bool) -> Provider:
    if settings.rabbitmq_url:
        return RabbitMessagingProvider()
    return InProcessMessagingProvider(hosts_worker=hosts_worker)
