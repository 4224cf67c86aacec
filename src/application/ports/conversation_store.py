"""Persistence the conversation engine adds to the messaging repositories: turn bookkeeping (locks,
history, the reply ledger, tool-call records), the tenants' HTTP tools, and the read side of the
conversation API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import attrs

from application.ports.repositories import Page
from domain.channels.channel import ChannelKind
from domain.common.ids import ChannelId, ConversationId, TenantId
from domain.conversations.conversation import Conversation, ConversationState
from domain.conversations.message import Message
from domain.conversations.tool_call import ToolCallRecord
from domain.tenants.tenant import Tenant
from domain.tools.tenant_tool import TenantTool, ToolId


@attrs.frozen
class TurnTenant:
    tenant: Tenant
    # At least one indexed chunk: without one, searching the knowledge base can only come back empty.
    has_knowledge: bool
    # The tenant's active HTTP tools, by name.
    tools: tuple[TenantTool, ...] = ()


class TurnRepository(Protocol):
    async def tenant_and_timeline(
        self, tenant_id: TenantId, conversation_id: ConversationId, limit: int
    ) -> tuple[TurnTenant | None, list[Message]]:
        """The tenant, whether it has any knowledge to search, and its active tools, with the conversation's
        newest `limit` messages, oldest first: in one read, as every turn needs them all."""
        ...

    async def lock_conversation(self, tenant_id: TenantId, conversation_id: ConversationId) -> Conversation | None:
        """Read the conversation and hold its row until the transaction ends: a bot reply being claimed
        and an agent's reply being recorded for one conversation never interleave."""
        ...

    async def messages_after(
        self, tenant_id: TenantId, conversation_id: ConversationId, moment: datetime
    ) -> list[Message]:
        """Messages stored strictly after `moment`, oldest first."""
        ...

    async def add_claimed(self, message: Message) -> bool:
        """Store the message as the one outbound message allowed under its idempotency key, claiming the key;
        False, and nothing stored, when the key is taken already."""
        ...

    async def claimed_message(self, tenant_id: TenantId, idempotency_key: str) -> Message | None:
        """The outbound message stored under a key claimed earlier, found through the ledger's row."""
        ...

    async def forget_claims_before(self, moment: datetime) -> int:
        """Platform-wide: drop ledger keys older than any redelivery could be; returns how many went."""
        ...

    async def record_tool_calls(self, records: Sequence[ToolCallRecord]) -> None: ...


class TenantToolRepository(Protocol):
    async def add(self, tool: TenantTool) -> None:
        """Raises Conflict when the tenant already has a tool of that name."""
        ...

    async def get(self, tenant_id: TenantId, tool_id: ToolId) -> TenantTool | None: ...

    async def list(self, tenant_id: TenantId) -> list[TenantTool]: ...

    async def update(self, tool: TenantTool) -> None: ...

    async def delete(self, tenant_id: TenantId, tool_id: ToolId) -> bool: ...


@attrs.frozen
class ConversationFilter:
    channel_id: ChannelId | None = None
    state: ConversationState | None = None
    # Last activity (updated_at) within [since, until).
    since: datetime | None = None
    until: datetime | None = None
    # Full-text search over the conversation's message texts.
    text: str | None = None


@attrs.frozen
class ConversationSummary:
    conversation: Conversation
    channel_kind: ChannelKind
    last_message: Message | None


@attrs.frozen
class IdleHandoff:
    tenant_id: TenantId
    conversation_id: ConversationId


class ConversationQueries(Protocol):
    async def search(
        self, tenant_id: TenantId, query: ConversationFilter, *, limit: int, cursor: str | None
    ) -> Page[ConversationSummary]:
        """Most recently active first; raises InvalidInput for a cursor it did not issue."""
        ...

    async def messages(
        self, tenant_id: TenantId, conversation_id: ConversationId, *, limit: int, cursor: str | None
    ) -> Page[Message]:
        """Newest first, a page at a time."""
        ...

    async def tool_calls(
        self, tenant_id: TenantId, conversation_id: ConversationId, *, limit: int
    ) -> list[ToolCallRecord]:
        """The latest tool calls, oldest first."""
        ...

    async def idle_handoffs(self, moment: datetime, *, limit: int) -> list[IdleHandoff]:
        """Platform-wide: conversations with a human whose agent has been silent for longer than their
        tenant's handoff_idle_release_minutes."""
        ...
