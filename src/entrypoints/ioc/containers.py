"""One container factory per entrypoint; the embedded-or-real choice for each port happens here."""

from __future__ import annotations

from dishka import AsyncContainer, Provider, Scope, make_async_container, provide

from adapters.system.health import CallableProbe, always_ready
from entrypoints.ioc.channels import ChannelsProvider, StorageProvider
from entrypoints.ioc.providers import (
    BrokerProbe,
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


class InProcessBrokerProvider(Provider):
    scope = Scope.APP

    @provide
    def probe(self) -> BrokerProbe:
        return BrokerProbe(CallableProbe("broker", always_ready, required=True, mode="in-process"))


def common_providers(settings: Settings) -> list[Provider]:
    return [
        ConfigProvider(),
        SecurityProvider(),
        DatabaseProvider(),
        RedisCacheProvider() if settings.redis_url else MemoryCacheProvider(),
        InProcessBrokerProvider(),
        HealthProvider(),
        UseCasesProvider(),
        StorageProvider(),
        ChannelsProvider(),
        *webchat_providers(settings),
    ]


def make_http_container(settings: Settings, *extra: Provider) -> AsyncContainer:
    from dishka.integrations.litestar import LitestarProvider

    return make_async_container(
        *common_providers(settings), LitestarProvider(), *extra, context={Settings: settings}
    )


def make_cli_container(settings: Settings, *extra: Provider) -> AsyncContainer:
    return make_async_container(*common_providers(settings), *extra, context={Settings: settings})
