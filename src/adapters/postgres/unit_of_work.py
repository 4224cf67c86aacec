"""Postgres unit of work: one connection, one transaction, tenant set for row-level security."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.postgres.engine import APP_ROLE
from adapters.postgres.repositories.api_keys import PostgresApiKeyRepository
from adapters.postgres.repositories.channels import PostgresChannelRepository
from adapters.postgres.repositories.conversation_queries import PostgresConversationQueries
from adapters.postgres.repositories.conversations import PostgresConversationRepository
from adapters.postgres.repositories.documents import PostgresDocumentRepository
from adapters.postgres.repositories.inbox import PostgresInboxRepository
from adapters.postgres.repositories.knowledge_index import PostgresKnowledgeIndex
from adapters.postgres.repositories.messages import PostgresMessageRepository
from adapters.postgres.repositories.outbox import PostgresOutbox
from adapters.postgres.repositories.processed_messages import PostgresProcessedMessages
from adapters.postgres.repositories.tenant_tools import PostgresTenantToolRepository
from adapters.postgres.repositories.tenants import PostgresTenantRepository
from adapters.postgres.repositories.timeline import PostgresConversationTimeline
from adapters.postgres.repositories.turns import PostgresTurnRepository
from adapters.postgres.repositories.webhooks import PostgresWebhookRepository
from application.errors import ServiceUnavailable
from application.ports.security import SecretCipher
from domain.common.ids import TenantId

_SCOPE_SQL = sa.text(
    "SELECT set_config('role', :role, true), set_config('app.tenant_id', :tenant, true),"
    " set_config('app.bypass_rls', :bypass, true)"
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

    def __init__(self, engine: AsyncEngine, cipher: SecretCipher, tenant_id: TenantId | None) -> None:
        self._engine = engine
        self._cipher = cipher
        self._tenant_id = tenant_id
        self._connection: AsyncConnection | None = None

    @property
    def connection(self) -> AsyncConnection:
        if self._connection is None:
            raise RuntimeError("the unit of work is used outside 'async with'")
        return self._connection

    async def __aenter__(self) -> Self:
        try:
            self._connection = await self._engine.connect()
            await self._connection.begin()
            await self._connection.execute(
                _SCOPE_SQL,
                {
                    "role": APP_ROLE,
                    "tenant": "" if self._tenant_id is None else str(self._tenant_id),
                    "bypass": "on" if self._tenant_id is None else "off",
                },
            )
        except (OSError, OperationalError, DBAPIError) as error:
            await self._close()
            raise ServiceUnavailable("the database is not reachable") from error
        connection = self._connection
        self.tenants = PostgresTenantRepository(connection)
        self.channels = PostgresChannelRepository(connection, self._cipher)
        self.api_keys = PostgresApiKeyRepository(connection)
        self.outbox = PostgresOutbox(connection)
        self.inbox = PostgresInboxRepository(connection)
        self.conversations = PostgresConversationRepository(connection)
        self.messages = PostgresMessageRepository(connection)
        self.webhooks = PostgresWebhookRepository(connection, self._cipher)
        self.processed_messages = PostgresProcessedMessages(connection)
        self.timeline = PostgresConversationTimeline(connection)
        self.turns = PostgresTurnRepository(connection)
        self.tenant_tools = PostgresTenantToolRepository(connection)
        self.conversation_queries = PostgresConversationQueries(connection)
        self.documents = PostgresDocumentRepository(connection)
        self.knowledge = PostgresKnowledgeIndex(connection)
        return self

    async def commit(self) -> None:
        # The tenant settings are transaction-local: once committed the connection is handed back,
        # so nothing can run later on this unit of work without row-level security.
        await self.connection.commit()
        await self._close()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        if self._connection is not None:
            # Closing without commit rolls back whatever is pending.
            await self._connection.close()
            self._connection = None


class PostgresUnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine, cipher: SecretCipher) -> None:
        self._engine = engine
        self._cipher = cipher

    def __call__(self, tenant_id: TenantId | None) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self._engine, self._cipher, tenant_id)
