"""Domain events: the versioned envelope every event travels in, and the catalogue of types."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

from domain.common.ids import EventId, TenantId, new_id
from domain.common.time import utc_now

ENVELOPE_VERSION = 1


class EventType(StrEnum):
    TENANT_CREATED = "tenant.created"
    TENANT_UPDATED = "tenant.updated"
    TENANT_DELETED = "tenant.deleted"
    CHANNEL_CREATED = "channel.created"
    CHANNEL_UPDATED = "channel.updated"
    CHANNEL_DELETED = "channel.deleted"
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_SENT = "message.sent"
    MESSAGE_STATUS = "message.status"
    MESSAGE_FAILED = "message.failed"
    MESSAGE_REACTION = "message.reaction"
    CONVERSATION_CREATED = "conversation.created"
    CONVERSATION_HANDOFF = "conversation.handoff"
    CONVERSATION_RELEASED = "conversation.released"
    # The user wrote while a person has the conversation: the bot stays quiet, the agents' tools hear of it.
    CONVERSATION_AWAITING_AGENT = "conversation.awaiting_agent"
    DOCUMENT_UPLOADED = "document.uploaded"
    DOCUMENT_INDEXED = "document.indexed"
    DOCUMENT_FAILED = "document.failed"
    DOCUMENT_DELETED = "document.deleted"


@attrs.frozen
class Event:
    type: str
    tenant_id: TenantId
    data: dict[str, Any]
    # Events of one aggregate are published in order; the key names that aggregate.
    aggregate_key: str
    id: EventId = attrs.field(factory=lambda: EventId(new_id()))
    occurred_at: datetime = attrs.field(factory=utc_now)
    version: int = ENVELOPE_VERSION
    # Carried into the worker so one request/message can be followed through the logs.
    correlation_id: str | None = None

    def envelope(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "tenant_id": str(self.tenant_id),
            "occurred_at": self.occurred_at.isoformat(),
            "version": self.version,
            "data": self.data,
        }

    @classmethod
    def from_envelope(
        cls, envelope: dict[str, Any], *, aggregate_key: str = "", correlation_id: str | None = None
    ) -> Event:
        """The inverse of envelope(); the aggregate key and correlation id travel beside it."""
        return cls(
            type=envelope["type"],
            tenant_id=TenantId(uuid.UUID(envelope["tenant_id"])),
            data=envelope["data"],
            aggregate_key=aggregate_key,
            id=EventId(uuid.UUID(envelope["id"])),
            occurred_at=datetime.fromisoformat(envelope["occurred_at"]),
            version=envelope["version"],
            correlation_id=correlation_id,
        )

    @property
    def routing_key(self) -> str:
        return f"{self.tenant_id}.{self.type}"
