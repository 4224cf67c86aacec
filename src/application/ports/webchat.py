"""Ports of the web chat widget: visitor tokens, the live fan-out that reaches whichever API process
holds a visitor's sockets, and the conversation read back by sequence number."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import attrs

from application.errors import Unauthorized
from domain.common.ids import ChannelId, ConversationId, MessageId, TenantId
from domain.conversations.message import Direction, MessageType, SenderRole


class InvalidVisitorToken(Unauthorized):
    code = "invalid_token"


@attrs.frozen
class VisitorClaims:
    """What a web chat token vouches for: this visitor of this tenant's widget, until `expires_at`."""

    tenant_id: TenantId
    channel_id: ChannelId
    widget_id: str
    visitor_id: str
    expires_at: datetime


@attrs.frozen
class IssuedVisitorToken:
    token: str
    claims: VisitorClaims


class VisitorTokens(Protocol):
    def issue(self, tenant_id: TenantId, channel_id: ChannelId, widget_id: str, visitor_id: str) -> IssuedVisitorToken:
        """A short-lived token for one visitor of one web chat channel."""
        ...

    def verify(self, token: str) -> VisitorClaims:
        """Raises InvalidVisitorToken for a forged, foreign, malformed or expired token."""
        ...

    def new_visitor_id(self) -> str:
        """An unguessable visitor id that `is_issued_visitor_id` recognises."""
        ...

    def is_issued_visitor_id(self, visitor_id: str) -> bool:
        """True only for ids this platform handed out, so a page cannot pick (or guess) someone else's."""
        ...


@attrs.frozen
class VisitorTopic:
    """Everything live about one visitor of one widget travels on one topic, whatever tab or process."""

    tenant_id: TenantId
    channel_id: ChannelId
    visitor_id: str

    @property
    def key(self) -> str:
        return f"webchat:{self.tenant_id}:{self.channel_id}:{self.visitor_id}"


class LiveEventKind(StrEnum):
    # Stored messages were added: every socket reads what it has not sent yet from the database.
    CHANGED = "changed"
    # One more piece of an answer being written (never stored; the final message supersedes it).
    DELTA = "delta"
    TYPING = "typing"
    HANDOFF = "handoff"


@attrs.frozen
class LiveEvent:
    kind: LiveEventKind
    data: dict[str, Any] = attrs.field(factory=dict)


class LiveFanout(Protocol):
    async def publish(self, topic: VisitorTopic, event: LiveEvent) -> None:
        """Best effort: delivered to every current subscriber of the topic in any process, in order."""
        ...

    def subscribe(self, topic: VisitorTopic) -> AbstractAsyncContextManager[AsyncIterator[LiveEvent]]:
        """Events published on the topic from now on. When events may have been lost (a slow reader,
        a broken connection to the broker) the subscriber gets a CHANGED event to resynchronise."""
        ...


@attrs.frozen
class TimelineEntry:
    """One stored message as the widget shows it, with its place in the conversation."""

    seq: int
    message_id: MessageId
    direction: Direction
    sender: SenderRole
    type: MessageType
    text: str
    content: dict[str, Any]
    created_at: datetime


class ConversationTimeline(Protocol):
    async def after(
        self, tenant_id: TenantId, conversation_id: ConversationId, after_seq: int, limit: int
    ) -> list[TimelineEntry]:
        """Messages numbered above `after_seq`, in order, at most `limit`."""
        ...
