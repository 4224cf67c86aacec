"""What a channel's webhook event means once normalised, whatever provider shape it came in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from domain.conversations.message import DeliveryStatus, MessageError, MessageType


@attrs.frozen
class MediaRef:
    """Where an inbound file can be fetched from: a provider media id (WhatsApp) and/or a URL."""

    type: MessageType
    provider_media_id: str | None = None
    url: str | None = None
    mime_type: str | None = None
    sha256: str | None = None
    filename: str | None = None


@attrs.frozen
class InboundMessage:
    provider_message_id: str
    contact_id: str
    type: MessageType
    occurred_at: datetime
    text: str = ""
    contact_name: str = ""
    # Type-specific fields (buttons, location, contacts, reaction target …); the raw object for unsupported.
    content: dict[str, Any] = attrs.field(factory=dict)
    reply_to_provider_id: str | None = None
    media: tuple[MediaRef, ...] = ()


@attrs.frozen
class StatusReport:
    """The provider's word on one message we sent (WhatsApp statuses)."""

    provider_message_id: str
    contact_id: str
    status: DeliveryStatus
    occurred_at: datetime
    error: MessageError | None = None


@attrs.frozen
class WatermarkReport:
    """Everything we sent to the contact up to `watermark` is delivered/read (Messenger)."""

    contact_id: str
    status: DeliveryStatus
    watermark: datetime
    provider_message_ids: tuple[str, ...] = ()


@attrs.frozen
class EchoReport:
    """A copy of a message the page itself sent; never answered. Our own sends are already stored;
    one a person typed in the Page inbox is recorded as an agent's message."""

    provider_message_id: str
    contact_id: str
    sent_by_platform: bool
    occurred_at: datetime
    text: str = ""
    content: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class IgnoredEvent:
    reason: str


NormalisedEvent = InboundMessage | StatusReport | WatermarkReport | EchoReport | IgnoredEvent
