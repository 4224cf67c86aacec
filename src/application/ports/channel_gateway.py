"""Outbound port: how the conversation engine talks back to a contact on any channel."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

import attrs

from domain.channels.channel import Channel, ChannelKind
from domain.conversations.message import MessageError, MessageType


class SendFailure(StrEnum):
    RATE_LIMITED = "rate_limited"  # throughput / pair rate / app call limits
    TEMPORARY = "temporary"  # provider 5xx, network error, "service unavailable"
    WINDOW_CLOSED = "window_closed"  # outside the 24 h customer-service window: send a template
    INVALID_RECIPIENT = "invalid_recipient"  # not on WhatsApp, no matching user, person unavailable
    AUTH = "auth"  # token missing, expired or lacking a permission
    INVALID_REQUEST = "invalid_request"  # bad parameter, unknown template, unsupported media …
    POLICY = "policy"  # spam/quality limits, account locked, user opted out
    UNSUPPORTED = "unsupported"  # the channel cannot send this kind of message at all


RETRYABLE_FAILURES = frozenset({SendFailure.RATE_LIMITED, SendFailure.TEMPORARY})


class ChannelSendError(Exception):
    """A send the provider refused (after the adapter's own retries for retryable failures)."""

    def __init__(
        self,
        reason: SendFailure,
        *,
        code: str,
        title: str,
        details: str = "",
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(f"{reason}: {code} {title}")
        self.reason = reason
        self.code = code
        self.title = title
        self.details = details
        self.retry_after_seconds = retry_after_seconds

    @property
    def retryable(self) -> bool:
        return self.reason in RETRYABLE_FAILURES

    def as_message_error(self) -> MessageError:
        return MessageError(code=self.code, title=self.title, details=self.details, retryable=self.retryable)


@attrs.frozen
class OutboundMedia:
    """A file to send: a public `link` or a provider `media_id` obtained by uploading it."""

    type: MessageType
    link: str | None = None
    media_id: str | None = None
    caption: str = ""
    filename: str = ""

    def __attrs_post_init__(self) -> None:
        if (self.link is None) == (self.media_id is None):
            raise ValueError("outbound media needs exactly one of link or media_id")
        if self.type not in (
            MessageType.IMAGE,
            MessageType.AUDIO,
            MessageType.VIDEO,
            MessageType.DOCUMENT,
            MessageType.STICKER,
        ):
            raise ValueError(f"{self.type} is not a media type")


@attrs.frozen
class ReplyButton:
    id: str
    title: str


@attrs.frozen
class ListRow:
    id: str
    title: str
    description: str = ""


@attrs.frozen
class ListSection:
    title: str
    rows: tuple[ListRow, ...]


@attrs.frozen
class InteractiveMessage:
    """Reply buttons (`buttons`) or a list (`list_button` + `sections`): exactly one of the two."""

    body: str
    buttons: tuple[ReplyButton, ...] = ()
    list_button: str = ""
    sections: tuple[ListSection, ...] = ()
    header: str = ""
    footer: str = ""

    def __attrs_post_init__(self) -> None:
        if bool(self.buttons) == bool(self.sections):
            raise ValueError("an interactive message has either buttons or list sections")


@attrs.frozen
class TemplateMessage:
    """A pre-approved WhatsApp template; `components` are passed as the Graph API spells them."""

    name: str
    language: str
    components: tuple[dict[str, Any], ...] = ()


class ChannelGateway(Protocol):
    """Every method returns the provider's id(s) of what it sent ("" where the provider gives none, as for
    a Messenger reaction) and raises ChannelSendError."""

    def max_text_length(self, kind: ChannelKind) -> int: ...

    async def send_text(self, channel: Channel, to: str, text: str, reply_to: str | None = None) -> list[str]:
        """Texts longer than the channel allows go out as several messages split at sentence ends."""
        ...

    async def send_media(self, channel: Channel, to: str, media: OutboundMedia, reply_to: str | None = None) -> str: ...

    def carries(self, kind: ChannelKind, content_kind: str) -> bool:
        """Whether the channel sends this kind of content ("text", "media", "template", "interactive", "reaction")."""
        ...

    def check_interactive(self, kind: ChannelKind, message: InteractiveMessage) -> None:
        """Raises the ChannelSendError sending would, when the message is over the channel's limits."""
        ...

    async def send_interactive(
        self, channel: Channel, to: str, message: InteractiveMessage, reply_to: str | None = None
    ) -> str: ...

    async def send_template(self, channel: Channel, to: str, template: TemplateMessage) -> str: ...

    async def send_reaction(self, channel: Channel, to: str, message_id: str, emoji: str) -> str:
        """An empty emoji removes our reaction."""
        ...

    async def mark_read(self, channel: Channel, to: str, message_id: str) -> None: ...

    async def typing(self, channel: Channel, to: str, on: bool, message_id: str | None = None) -> None:
        """WhatsApp shows typing only together with marking `message_id` read, and has no "off"."""
        ...
