"""One container factory per entrypoint; the embedded-or-real choice for each port happens here."""

from __future__ import annotations

from dishka import AsyncContainer, Provider, make_async_container

from entrypoints.ioc.channels import ChannelsProvider, StorageProvider
from entrypoints.ioc.conversations import ConversationsProvider
from entrypoints.ioc.events import EventBackboneProvider, WorkerProvider, messaging_provider
from entrypoints.ioc.knowledge import KnowledgeProvider
from entrypoints.ioc.models import models_provider
from entrypoints.ioc.providers import (
    ConfigProvider,
    DatabaseProvider,
    HealthProvider,
    MemoryCacheProvider,
    RedisCacheProvider,
    SecurityProvider,
    UseCasesProvider,
)
from entrypoints.ioc.webchat import webchat_providers
from entrypoints.settings import Settings
from entrypoints.worker.handlers import register_handlers
from entrypoints.worker.registry import WorkerHandlers


def common_providers(settings: Settings, *, hosts_worker: bool = False) -> list[Provider]:
    return [
        ConfigProvider(),
        SecurityProvider(),
        DatabaseProvider(hosts_worker=hosts_worker),
        RedisCacheProvider() if settings.redis_url else MemoryCacheProvider(),
        messaging_provider(settings, hosts_worker=hosts_worker),
        EventBackboneProvider(),
        HealthProvider(),
        UseCasesProvider(),
        StorageProvider(),
        ChannelsProvider(),
        *webchat_providers(settings),
        models_provider(settings),
        KnowledgeProvider(),
        ConversationsProvider(),
    ]


def make_http_container(settings: Settings, *extra: Provider, worker: WorkerHandlers | None = None) -> AsyncContainer:
    """The API's container; with `worker` handlers it also hosts the worker (`metachat run`)."""
    from dishka.integrations.litestar import LitestarProvider

    if worker is None:
        return make_async_container(
            *common_providers(settings), LitestarProvider(), *extra, context={Settings: settings}
        )
    return make_async_container(
        *common_providers(settings, hosts_worker=True),
        LitestarProvider(),
        WorkerProvider(),
        *extra,
        context={Settings: settings, WorkerHandlers: worker},
    )


def make_worker_container(
    settings: Settings, *extra: Provider, handlers: WorkerHandlers | None = None
) -> AsyncContainer:
    """The worker's container: FastStream's message scope plus the handler registry."""
    return make_async_container(
        *common_providers(settings, hosts_worker=True),
        WorkerProvider(),
        *extra,
        context={Settings: settings, WorkerHandlers: handlers or register_handlers(WorkerHandlers())},
    )


def make_cli_container(settings: Settings, *extra: Provider) -> AsyncContainer:
    return make_async_container(*common_providers(settings), *extra, context={Settings: settings})
