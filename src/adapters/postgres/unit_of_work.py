"""Postgres unit of work: one connection, one transaction, tenant set for row-level security."""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Any, Self

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.postgres.engine import APP_ROLE, CONNECTION_ERRORS, roll_back_or_discard
from adapters.postgres.notifications import OutboxWakeups
from adapters.postgres.repositories.api_keys import PostgresApiKeyRepository
from adapters.postgres.repositories.channels import PostgresChannelRepository
from adapters.postgres.repositories.conversation_queries import PostgresConversationQueries
from adapters.postgres.repositories.conversations import PostgresConversationRepository
from adapters.postgres.repositories.documents import PostgresDocumentRepository
from adapters.postgres.repositories.inbox import PostgresInboxRepository
from adapters.postgres.repositories.knowledge_index import PostgresKnowledgeIndex
from adapters.postgres.repositories.messages import PostgresMessageRepository
from adapters.postgres.repositories.outbox import PostgresOutbox, TransactionDriver
from adapters.postgres.repositories.processed_messages import PostgresProcessedMessages
from adapters.postgres.repositories.tenant_tools import PostgresTenantToolRepository
from adapters.postgres.repositories.tenants import PostgresTenantRepository
from adapters.postgres.repositories.timeline import PostgresConversationTimeline
from adapters.postgres.repositories.turns import PostgresTurnRepository
from adapters.postgres.repositories.webhooks import PostgresWebhookRepository
from application.errors import ServiceUnavailable
from application.ports.security import SecretCipher
from domain.common.ids import TenantId

# The transaction, begun together with its row-level security scope in one round trip (a simple-protocol
# query, so the values are written into the text: the role is ours, a tenant id is a UUID's canonical text).
_BEGIN_TENANT = (
    f"BEGIN; SELECT set_config('role', '{APP_ROLE}', true), set_config('app.tenant_id', '{{tenant}}', true),"
    " set_config('app.bypass_rls', 'off', true)"
)
_BEGIN_PLATFORM = (
    f"BEGIN; SELECT set_config('role', '{APP_ROLE}', true), set_config('app.tenant_id', '', true),"
    " set_config('app.bypass_rls', 'on', true)"
)


class PostgresUnitOfWork:
    tenants: PostgresTenantRepository
    channels: PostgresChannelRepository
    api_keys: PostgresApiKeyRepository
    outbox: PostgresOutbox
    inbox: PostgresInboxRepository
    conversations: PostgresConversationRepository
    messages: PostgresMessageRepository
    webhooks: PostgresWebhookRepository
    processed_messages: PostgresProcessedMessages
    timeline: PostgresConversationTimeline
    turns: PostgresTurnRepository
    tenant_tools: PostgresTenantToolRepository
    conversation_queries: PostgresConversationQueries
    documents: PostgresDocumentRepository
    knowledge: PostgresKnowledgeIndex

    def __init__(
        self, engine: AsyncEngine, cipher: SecretCipher, wakeups: OutboxWakeups, tenant_id: TenantId | None
    ) -> None:
        self._engine = engine
        self._cipher = cipher
        self._wakeups = wakeups
        self._tenant_id = tenant_id
        self._connection: AsyncConnection | None = None
        self._driver: Any = None

    @property
    def connection(self) -> AsyncConnection:
        if self._connection is None:
            raise RuntimeError("the unit of work is used outside 'async with'")
        return self._connection

    async def __aenter__(self) -> Self:
        # The engine runs in autocommit mode (see the factory), so SQLAlchemy begins nothing itself: the
        # repositories' statements run inside the transaction begun here, and it ends with our COMMIT.
        begin = (
            _BEGIN_PLATFORM if self._tenant_id is None else _BEGIN_TENANT.format(tenant=uuid.UUID(str(self._tenant_id)))
        )
        try:
            self._connection = await self._engine.connect()
            self._driver = (await self._connection.get_raw_connection()).driver_connection
            await self._driver.execute(begin)
        except (*CONNECTION_ERRORS, asyncpg.PostgresError, OperationalError, DBAPIError) as error:
            await self._close()
            raise ServiceUnavailable("the database is not reachable") from error
        except BaseException:
            # Cancelled while opening: __aexit__ will not run, so the connection is handed back here.
            await self._close()
            raise
        connection, driver = self._connection, TransactionDriver(self._driver)
        self._statements = driver
        self.tenants = PostgresTenantRepository(connection)
        self.channels = PostgresChannelRepository(connection, driver, self._cipher)
        self.api_keys = PostgresApiKeyRepository(connection)
        self.outbox = PostgresOutbox(driver)
        self.inbox = PostgresInboxRepository(connection, driver, self._cipher)
        self.conversations = PostgresConversationRepository(connection, driver)
        self.messages = PostgresMessageRepository(connection, driver)
        self.webhooks = PostgresWebhookRepository(connection, self._cipher)
        self.processed_messages = PostgresProcessedMessages(connection)
        self.timeline = PostgresConversationTimeline(connection)
        self.turns = PostgresTurnRepository(connection, driver)
        self.tenant_tools = PostgresTenantToolRepository(connection)
        self.conversation_queries = PostgresConversationQueries(connection)
        self.documents = PostgresDocumentRepository(connection)
        self.knowledge = PostgresKnowledgeIndex(connection)
        return self

    async def commit(self) -> None:
        # The tenant settings are transaction-local: once committed the connection is handed back,
        # so nothing can run later on this unit of work without row-level security.
        connection = self.connection
        await self._statements.flush()
        try:
            await self._driver.execute("COMMIT")
        except CONNECTION_ERRORS as error:
            # Whether it committed is unknown: the connection is not reused, the caller's retry decides.
            self._driver = None
            await connection.invalidate()
            await self._close()
            raise ServiceUnavailable("the database connection was lost at commit") from error
        # Anything else (a cancellation mid-commit among them) leaves the driver set: closing then rolls
        # back, or discards a connection that cannot, so no transaction is ever handed back to the pool.
        self._driver = None
        self._wakeups.committed(self.outbox.kinds_written)
        await self._close()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        connection, driver = self._connection, self._driver
        if connection is None:
            return
        self._connection = self._driver = None
        try:
            if driver is not None:
                await roll_back_or_discard(connection, driver)
        finally:
            # Also when the task is cancelled mid-rollback: the connection goes back to the pool (discarded
            # by then if its transaction may still be open), never left to the garbage collector.
            await connection.close()


class PostgresUnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine, cipher: SecretCipher, wakeups: OutboxWakeups) -> None:
        # A view on the same pool in autocommit mode: the unit of work begins and ends transactions itself.
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._cipher = cipher
        self._wakeups = wakeups

    def __call__(self, tenant_id: TenantId | None) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self._engine, self._cipher, self._wakeups, tenant_id)
