"""One transaction over the repositories; nothing is stored unless commit() ran."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from application.ports.conversation_store import ConversationQueries, TenantToolRepository, TurnRepository
from application.ports.idempotency import ProcessedMessages
from application.ports.knowledge import DocumentRepository, KnowledgeIndex
from application.ports.messaging_repositories import ConversationRepository, InboxRepository, MessageRepository
from application.ports.repositories import ApiKeyRepository, ChannelRepository, Outbox, TenantRepository
from application.ports.webchat import ConversationTimeline
from application.ports.webhooks import WebhookRepository
from domain.common.ids import TenantId


class UnitOfWork(Protocol):
    @property
    def tenants(self) -> TenantRepository: ...

    @property
    def channels(self) -> ChannelRepository: ...

    @property
    def api_keys(self) -> ApiKeyRepository: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def inbox(self) -> InboxRepository: ...

    @property
    def conversations(self) -> ConversationRepository: ...

    @property
    def messages(self) -> MessageRepository: ...

    @property
    def webhooks(self) -> WebhookRepository: ...

    @property
    def processed_messages(self) -> ProcessedMessages: ...

    @property
    def timeline(self) -> ConversationTimeline: ...

    @property
    def turns(self) -> TurnRepository: ...

    @property
    def tenant_tools(self) -> TenantToolRepository: ...

    @property
    def conversation_queries(self) -> ConversationQueries: ...

    @property
    def documents(self) -> DocumentRepository: ...

    @property
    def knowledge(self) -> KnowledgeIndex: ...

    async def commit(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, tenant_id: TenantId | None) -> UnitOfWork:
        """A unit of work scoped to one tenant (row-level security on), or platform-wide with None."""
        ...
