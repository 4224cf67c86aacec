"""dishka providers, grouped by concern. Embedded or real services are chosen here, once, from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import NewType

from dishka import Provider, Scope, from_context, provide, provide_all
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.crypto.aes_gcm import AesGcmSecretCipher
from adapters.crypto.scrypt import ScryptSecretHasher
from adapters.memory.rate_limiter import MemoryNonceStore, MemoryRateLimiter, MemorySendPacer
from adapters.postgres.api_log import PostgresApiLogSink
from adapters.postgres.engine import DEFAULT_POOL_SIZE, make_engine, ping
from adapters.postgres.notifications import OutboxWakeups
from adapters.postgres.unit_of_work import PostgresUnitOfWorkFactory
from adapters.redis.rate_limiter import RedisNonceStore, RedisRateLimiter, RedisSendPacer
from adapters.system.clock import SystemClock
from adapters.system.health import CallableProbe, always_ready
from application.api_keys.issue_api_key import IssueApiKey
from application.api_keys.manage_api_keys import ListApiKeys, RevokeApiKey, RotateApiKey
from application.auth import AuthenticateApiKey
from application.channels.manage_channels import DeleteChannel, GetChannel, ListChannels, ReplaceChannel
from application.channels.register_channel import RegisterChannel
from application.check_health import CheckHealth
from application.ports.api_log import ApiLogSink
from application.ports.clock import Clock
from application.ports.health import HealthProbe
from application.ports.rate_limiter import NonceStore, RateLimiter, SendPacer
from application.ports.security import SecretCipher, SecretHasher
from application.ports.unit_of_work import UnitOfWorkFactory
from application.tenants.create_tenant import CreateTenant
from application.tenants.delete_tenant import DeleteTenant
from application.tenants.read_tenants import GetTenant, ListTenants
from application.tenants.update_tenant import UpdateTenant
from entrypoints.settings import ConfigurationError, Settings

DatabaseProbe = NewType("DatabaseProbe", CallableProbe)
CacheProbe = NewType("CacheProbe", CallableProbe)
BrokerProbe = NewType("BrokerProbe", CallableProbe)


class ConfigProvider(Provider):
    settings = from_context(provides=Settings, scope=Scope.APP)


class SecurityProvider(Provider):
    scope = Scope.APP

    clock = provide(SystemClock, provides=Clock)

    @provide
    def hasher(self) -> SecretHasher:
        return ScryptSecretHasher()

    @provide
    def cipher(self, settings: Settings) -> SecretCipher:
        if not settings.secret_key:
            raise ConfigurationError("METACHAT_SECRET_KEY is not set")
        return AesGcmSecretCipher.from_encoded_key(settings.secret_key)


# Connections a worker process holds besides its task partitions' (one task each at a time): its two
# relays, the webhook delivery loop's bookkeeping, an event consumer or a periodic job.
WORKER_BACKGROUND_CONNECTIONS = 4


def engine_pool_size(settings: Settings, *, hosts_worker: bool) -> int:
    """Connections the pool keeps open. A worker process keeps one for each task partition it may run at
    once: a pool smaller than that closes a connection on every return beyond its size and opens a new one
    for the next task (a server process started, its catalog caches and prepared statements built again),
    which nearly doubled Postgres's CPU per message at 32 partitions in bench/pipeline.py."""
    if not hosts_worker:
        return DEFAULT_POOL_SIZE
    return max(DEFAULT_POOL_SIZE, settings.events.task_partitions + WORKER_BACKGROUND_CONNECTIONS)


class DatabaseProvider(Provider):
    scope = Scope.APP

    def __init__(self, *, hosts_worker: bool) -> None:
        super().__init__()
        self._hosts_worker = hosts_worker

    @provide
    def outbox_wakeups(self) -> OutboxWakeups:
        # Relays run in the processes that host the worker.
        return OutboxWakeups(relays_here=self._hosts_worker)

    @provide
    async def engine(self, settings: Settings, wakeups: OutboxWakeups) -> AsyncIterator[AsyncEngine]:
        if settings.database_url is None:
            raise ConfigurationError("no database: start the embedded one before building the container")
        engine = make_engine(
            settings.database_url,
            pool_size=engine_pool_size(settings, hosts_worker=self._hosts_worker),
            session_settings=wakeups.session_settings,
        )
        yield engine
        await engine.dispose()

    @provide
    def uow_factory(self, engine: AsyncEngine, cipher: SecretCipher, wakeups: OutboxWakeups) -> UnitOfWorkFactory:
        return PostgresUnitOfWorkFactory(engine, cipher, wakeups)

    @provide
    async def api_log_sink(self, engine: AsyncEngine) -> AsyncIterator[ApiLogSink]:
        sink = PostgresApiLogSink(engine)
        await sink.start()
        yield sink
        await sink.stop()

    @provide
    def probe(self, engine: AsyncEngine) -> DatabaseProbe:
        return DatabaseProbe(CallableProbe("database", lambda: ping(engine), required=True, mode="postgres"))


class RedisCacheProvider(Provider):
    scope = Scope.APP

    @provide
    async def client(self, settings: Settings) -> AsyncIterator[Redis]:
        assert settings.redis_url is not None
        client = Redis.from_url(settings.redis_url, socket_connect_timeout=2, health_check_interval=30)
        yield client
        await client.aclose()

    @provide
    def rate_limiter(self, client: Redis) -> RateLimiter:
        return RedisRateLimiter(client)

    @provide
    def nonces(self, client: Redis) -> NonceStore:
        return RedisNonceStore(client)

    @provide
    def send_pacer(self, client: Redis) -> SendPacer:
        return RedisSendPacer(client)

    @provide
    def probe(self, client: Redis) -> CacheProbe:
        return CacheProbe(CallableProbe("cache", client.ping, required=True, mode="redis"))


class MemoryCacheProvider(Provider):
    scope = Scope.APP

    nonces = provide(MemoryNonceStore, provides=NonceStore)

    @provide
    def send_pacer(self) -> SendPacer:
        return MemorySendPacer()

    @provide
    def rate_limiter(self) -> RateLimiter:
        return MemoryRateLimiter()

    @provide
    def probe(self) -> CacheProbe:
        return CacheProbe(CallableProbe("cache", always_ready, required=True, mode="in-process"))


class HealthProvider(Provider):
    scope = Scope.APP

    @provide
    def probes(self, database: DatabaseProbe, cache: CacheProbe, broker: BrokerProbe) -> list[HealthProbe]:
        return [database, cache, broker]

    @provide(scope=Scope.REQUEST)
    def check_health(self, probes: list[HealthProbe]) -> CheckHealth:
        return CheckHealth(probes)


class UseCasesProvider(Provider):
    scope = Scope.REQUEST

    use_cases = provide_all(
        CreateTenant,
        GetTenant,
        ListTenants,
        UpdateTenant,
        DeleteTenant,
        RegisterChannel,
        GetChannel,
        ListChannels,
        ReplaceChannel,
        DeleteChannel,
        IssueApiKey,
        ListApiKeys,
        RevokeApiKey,
        RotateApiKey,
    )

    @provide
    def authenticate(
        self,
        uow_factory: UnitOfWorkFactory,
        hasher: SecretHasher,
        cipher: SecretCipher,
        nonces: NonceStore,
        clock: Clock,
        settings: Settings,
    ) -> AuthenticateApiKey:
        return AuthenticateApiKey(uow_factory, hasher, cipher, nonces, clock, settings.admin_api_key)
