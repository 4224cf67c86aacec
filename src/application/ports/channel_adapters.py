"""What one channel adapter module implements (see docs/adding-a-channel.md): receiving webhooks
(verify, split, normalise, fetch media) and sending."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import attrs

from application.errors import ApplicationError, Forbidden, InvalidInput, Unauthorized
from application.ports.channel_gateway import InteractiveMessage, OutboundMedia, TemplateMessage
from domain.channels.channel import Channel, ChannelKind
from domain.channels.inbound import MediaRef, NormalisedEvent


class SignatureMissing(Unauthorized):
    code = "signature_missing"


class SignatureInvalid(Forbidden):
    code = "signature_invalid"


class MalformedWebhook(InvalidInput):
    """The body is not JSON or not this channel's kind of webhook (HTTP 400)."""

    code = "malformed_webhook"


class MediaUnavailable(ApplicationError):
    code = "media_unavailable"

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@attrs.frozen
class WebhookEvent:
    """One provider event cut out of a (possibly batched) webhook body."""

    # phone_number_id / page id: which channel the event belongs to.
    external_id: str
    # Unique per channel and stable across redeliveries (wamid, mid, "status:<id>:<status>" …).
    event_key: str
    contact_id: str
    payload: dict[str, Any]


@attrs.frozen
class WebhookBatch:
    events: list[WebhookEvent]
    # Parts of an authentic body we could not read (wrong types, missing ids): logged, not retried.
    skipped: int = 0


@attrs.frozen
class FetchedMedia:
    data: bytes
    mime_type: str


class InboundChannel(Protocol):
    kind: ChannelKind

    def verify_signature(self, body: bytes, header: str | None, secret: str) -> None:
        """Raises SignatureMissing or SignatureInvalid; checks the exact bytes received."""
        ...

    def split_webhook(self, body: bytes) -> WebhookBatch:
        """Raises MalformedWebhook; tolerates (and counts) odd parts of an otherwise valid body."""
        ...

    def normalize(self, payload: dict[str, Any], received_at: datetime) -> NormalisedEvent:
        """Turn one stored event payload into its normalised meaning; never raises on odd shapes."""
        ...

    async def fetch_media(self, channel: Channel, media: MediaRef, max_bytes: int) -> FetchedMedia:
        """Raises MediaUnavailable."""
        ...


class OutboundChannel(Protocol):
    kind: ChannelKind
    max_text_length: int
    # What a person may send through the channel: "text", "media", "template", "interactive", "reaction".
    # The API refuses the rest before anything is stored.
    content_kinds: frozenset[str]

    async def send_text(self, channel: Channel, to: str, text: str, reply_to: str | None) -> str:
        """`text` already fits max_text_length."""
        ...

    async def send_media(self, channel: Channel, to: str, media: OutboundMedia, reply_to: str | None) -> str: ...

    def check_interactive(self, message: InteractiveMessage) -> None:
        """Raises the ChannelSendError `send_interactive` would for a message over the channel's limits."""
        ...

    async def send_interactive(
        self, channel: Channel, to: str, message: InteractiveMessage, reply_to: str | None
    ) -> str: ...

    async def send_template(self, channel: Channel, to: str, template: TemplateMessage) -> str: ...

    async def send_reaction(self, channel: Channel, to: str, message_id: str, emoji: str) -> str: ...

    async def mark_read(self, channel: Channel, to: str, message_id: str) -> None: ...

    async def typing(self, channel: Channel, to: str, on: bool, message_id: str | None) -> None: ...
