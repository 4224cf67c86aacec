"""Messages in one normalised form, whatever channel they came from or go to."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

from domain.common.ids import ChannelId, ConversationId, MessageId, TenantId
from domain.common.time import utc_now


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class SenderRole(StrEnum):
    CONTACT = "contact"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


class MessageType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACTS = "contacts"
    INTERACTIVE_REPLY = "interactive_reply"  # button / list / flow reply
    TEMPLATE_BUTTON = "template_button"  # quick-reply tap on a WhatsApp template
    QUICK_REPLY = "quick_reply"  # Messenger quick reply
    POSTBACK = "postback"
    REFERRAL = "referral"
    REACTION = "reaction"
    ORDER = "order"
    SYSTEM = "system"
    TEMPLATE = "template"  # outbound WhatsApp template
    INTERACTIVE = "interactive"  # outbound reply buttons or list (a tap on one comes back as interactive_reply)
    UNSUPPORTED = "unsupported"


# Types a user produces as input to the assistant (answered like text).
CONVERSATIONAL_TYPES = frozenset(
    {
        MessageType.TEXT,
        MessageType.INTERACTIVE_REPLY,
        MessageType.TEMPLATE_BUTTON,
        MessageType.QUICK_REPLY,
        MessageType.POSTBACK,
    }
)


class DeliveryStatus(StrEnum):
    RECEIVED = "received"  # inbound
    PENDING = "pending"  # outbound, not yet accepted by the provider
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"


_STATUS_RANK = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
    DeliveryStatus.PLAYED: 4,
}


def status_advances(current: DeliveryStatus, reported: DeliveryStatus) -> bool:
    """Statuses arrive out of order and repeated: only forward moves count; failed is terminal."""
    if current in (DeliveryStatus.FAILED, DeliveryStatus.RECEIVED):
        return False
    if reported is DeliveryStatus.FAILED:
        return True
    return _STATUS_RANK.get(reported, -1) > _STATUS_RANK.get(current, -1)


@attrs.frozen
class MessageError:
    code: str
    title: str
    details: str = ""
    retryable: bool = False


@attrs.define
class Message:
    id: MessageId
    tenant_id: TenantId
    conversation_id: ConversationId
    channel_id: ChannelId
    direction: Direction
    sender: SenderRole
    type: MessageType
    text: str = ""
    # Type-specific payload (media ids, location, buttons, citations, the raw provider object …).
    content: dict[str, Any] = attrs.field(factory=dict)
    provider_message_id: str | None = None
    reply_to_provider_id: str | None = None
    status: DeliveryStatus = DeliveryStatus.RECEIVED
    error: MessageError | None = None
    created_at: datetime = attrs.field(factory=utc_now)
    # When the provider says it happened (may differ from when we stored it).
    occurred_at: datetime = attrs.field(factory=utc_now)
    # Outbound only: ensures one reply per inbound message even when a turn is retried.
    idempotency_key: str | None = None

    def apply_status(self, reported: DeliveryStatus, error: MessageError | None = None) -> bool:
        if not status_advances(self.status, reported):
            return False
        self.status = reported
        if reported is DeliveryStatus.FAILED:
            self.error = error
        return True
