"""The web chat's send side. Nothing is sent anywhere: the conversation engine has stored the message,
so "sending" tells the visitor's sockets (in whichever API process) to read what is new."""

from __future__ import annotations

import uuid

from application.ports.channel_gateway import (
    ChannelSendError,
    InteractiveMessage,
    OutboundMedia,
    SendFailure,
    TemplateMessage,
)
from application.ports.webchat import LiveEvent, LiveEventKind, LiveFanout, VisitorTopic
from domain.channels.channel import Channel, ChannelKind

# The widget shows any length; far below this an answer is already a wall of text.
MAX_TEXT_LENGTH = 16_000


class WebChatChannel:
    kind = ChannelKind.WEBCHAT
    max_text_length = MAX_TEXT_LENGTH
    # The widget shows text only: a file or buttons sent to it would reach the visitor as their caption or body.
    content_kinds = frozenset({"text"})

    def __init__(self, fanout: LiveFanout) -> None:
        self._fanout = fanout

    async def send_text(self, channel: Channel, to: str, text: str, reply_to: str | None) -> str:
        return await self._announce(channel, to)

    async def send_media(self, channel: Channel, to: str, media: OutboundMedia, reply_to: str | None) -> str:
        return await self._announce(channel, to)

    def check_interactive(self, message: InteractiveMessage) -> None:
        return None  # the widget has no limits of its own

    async def send_interactive(
        self, channel: Channel, to: str, message: InteractiveMessage, reply_to: str | None
    ) -> str:
        return await self._announce(channel, to)

    async def send_template(self, channel: Channel, to: str, template: TemplateMessage) -> str:
        raise ChannelSendError(
            SendFailure.UNSUPPORTED, code="unsupported", title="templates are a WhatsApp feature; web chat sends text"
        )

    async def send_reaction(self, channel: Channel, to: str, message_id: str, emoji: str) -> str:
        raise ChannelSendError(SendFailure.UNSUPPORTED, code="unsupported", title="the web chat shows no reactions")

    async def mark_read(self, channel: Channel, to: str, message_id: str) -> None:
        """The widget shows no read receipts."""

    async def typing(self, channel: Channel, to: str, on: bool, message_id: str | None) -> None:
        await self._fanout.publish(
            VisitorTopic(channel.tenant_id, channel.id, to), LiveEvent(LiveEventKind.TYPING, {"on": on, "role": "bot"})
        )

    async def _announce(self, channel: Channel, to: str) -> str:
        # "expect": a socket that finds nothing new looks again shortly, in case the sender commits the
        # message only after sending it.
        await self._fanout.publish(
            VisitorTopic(channel.tenant_id, channel.id, to), LiveEvent(LiveEventKind.CHANGED, {"expect": True})
        )
        return f"wc_{uuid.uuid4().hex}"
