"""Persistence ports for inbound/outbound messaging: the webhook inbox, conversations and messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

import attrs

from domain.channels.channel import Channel
from domain.channels.inbox import InboxEntry
from domain.common.ids import ChannelId, ConversationId, MessageId, TenantId
from domain.conversations.conversation import Conversation
from domain.conversations.message import DeliveryStatus, Message


@attrs.frozen
class LockedInboxEntry:
    entry: InboxEntry
    # Another event of the entry's contact on its channel is stored and not processed yet.
    others_pending: bool
    # The entry's channel as stored now (None once deleted), read with the entry.
    channel: Channel | None
    # The conversation of the entry's contact on its channel, locked, read with the entry (None while there is
    # none): storing a message there needs no round trip to look it up.
    conversation: Conversation | None = None
    # The contact's events received before this one and not processed yet, oldest first: their tasks run after
    # this one's only when they were put back or changed worker process (see ProcessInboxEntry.execute).
    older_pending: tuple[uuid.UUID, ...] = ()


class InboxRepository(Protocol):
    async def add_new(self, entries: list[InboxEntry]) -> list[InboxEntry]:
        """Insert the entries whose (channel, provider key) is not stored yet; return those inserted."""
        ...

    async def lock(self, tenant_id: TenantId, entry_id: uuid.UUID) -> LockedInboxEntry | None:
        """The entry, held until the transaction ends so that it is never processed twice at once, whether
        other events of its contact are waiting, and its channel, in one read."""
        ...

    async def finish(self, entry: InboxEntry) -> None:
        """Persist the entry's final state, outcome and message, by the commit: the write may wait to ride on
        the transaction's next statement, so nothing in the transaction reads the entry after it."""
        ...


class ConversationRepository(Protocol):
    async def get_or_add(self, conversation: Conversation) -> tuple[Conversation, bool]:
        """The stored conversation of (channel, contact), adding `conversation` if there is none;
        the flag says whether it was added now."""
        ...

    async def find(self, tenant_id: TenantId, channel_id: ChannelId, contact_id: str) -> Conversation | None: ...

    async def get(self, tenant_id: TenantId, conversation_id: ConversationId) -> Conversation | None: ...

    async def update(self, conversation: Conversation) -> None: ...

    async def stage_update(self, conversation: Conversation) -> None:
        """`update`, by the commit: the write may wait to ride on the transaction's next statement, which does
        not see it, so nothing in the transaction reads the conversation after it."""
        ...


class MessageRepository(Protocol):
    async def add(self, message: Message) -> None: ...

    async def stage(self, message: Message) -> None:
        """Store the message by the commit: the write may wait to ride on the transaction's next statement,
        which does not see it, so nothing in the transaction reads the message after it (the turn read
        that follows an inbound message is handed the message instead, see `HeldRows`)."""
        ...

    async def get(self, tenant_id: TenantId, message_id: MessageId) -> Message | None: ...

    async def find_by_provider_id(
        self, tenant_id: TenantId, channel_id: ChannelId, provider_message_id: str
    ) -> Message | None: ...

    async def outbound_before(
        self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        moment: datetime,
        statuses: frozenset[DeliveryStatus],
    ) -> list[Message]:
        """Outbound messages of the conversation created up to `moment` whose status is one of `statuses`."""
        ...

    async def update_delivery(self, message: Message) -> None:
        """Persist status, error and provider id of a message."""
        ...
