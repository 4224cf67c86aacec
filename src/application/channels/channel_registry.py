"""The channel adapters by kind: ChannelGateway for sending (with long texts split per channel),
and the webhook side of each Meta channel. A new channel is one adapter registered here."""

from __future__ import annotations

from collections.abc import Sequence

from application.errors import NotFound
from application.ports.channel_adapters import InboundChannel, OutboundChannel
from application.ports.channel_gateway import (
    ChannelSendError,
    InteractiveMessage,
    OutboundMedia,
    SendFailure,
    TemplateMessage,
)
from domain.channels.channel import Channel, ChannelKind
from domain.conversations.splitting import split_text


class ChannelRegistry:
    def __init__(self, outbound: Sequence[OutboundChannel], inbound: Sequence[InboundChannel]) -> None:
        self._outbound = {adapter.kind: adapter for adapter in outbound}
        self._inbound = {adapter.kind: adapter for adapter in inbound}

    def inbound(self, kind: ChannelKind) -> InboundChannel:
        adapter = self._inbound.get(kind)
        if adapter is None:
            raise NotFound(f"{kind} channels do not receive webhooks")
        return adapter

    def outbound(self, kind: ChannelKind) -> OutboundChannel:
        adapter = self._outbound.get(kind)
        if adapter is None:
            raise ChannelSendError(SendFailure.UNSUPPORTED, code="unsupported", title=f"no sender for {kind} channels")
        return adapter

    def max_text_length(self, kind: ChannelKind) -> int:
        return self.outbound(kind).max_text_length

    async def send_text(self, channel: Channel, to: str, text: str, reply_to: str | None = None) -> list[str]:
        adapter = self.outbound(channel.kind)
        parts = split_text(text, adapter.max_text_length)
        if not parts:
            raise ChannelSendError(SendFailure.INVALID_REQUEST, code="empty_text", title="there is no text to send")
        # Only the first part quotes the message replied to; the rest simply follow it.
        return [
            await adapter.send_text(channel, to, part, reply_to if index == 0 else None)
            for index, part in enumerate(parts)
        ]

    async def send_media(self, channel: Channel, to: str, media: OutboundMedia, reply_to: str | None = None) -> str:
        return await self.outbound(channel.kind).send_media(channel, to, media, reply_to)

    def carries(self, kind: ChannelKind, content_kind: str) -> bool:
        adapter = self._outbound.get(kind)
        return adapter is not None and content_kind in adapter.content_kinds

    def check_interactive(self, kind: ChannelKind, message: InteractiveMessage) -> None:
        self.outbound(kind).check_interactive(message)

    async def send_interactive(
        self, channel: Channel, to: str, message: InteractiveMessage, reply_to: str | None = None
    ) -> str:
        return await self.outbound(channel.kind).send_interactive(channel, to, message, reply_to)

    async def send_template(self, channel: Channel, to: str, template: TemplateMessage) -> str:
        return await self.outbound(channel.kind).send_template(channel, to, template)

    async def send_reaction(self, channel: Channel, to: str, message_id: str, emoji: str) -> str:
        return await self.outbound(channel.kind).send_reaction(channel, to, message_id, emoji)

    async def mark_read(self, channel: Channel, to: str, message_id: str) -> None:
        await self.outbound(channel.kind).mark_read(channel, to, message_id)

    async def typing(self, channel: Channel, to: str, on: bool, message_id: str | None = None) -> None:
        await self.outbound(channel.kind).typing(channel, to, on, message_id)
