"""Live feedback while the assistant writes: streamed tokens and typing state, for channels that can
show them (the web chat widget). Meta channels get only the final text through the ChannelGateway."""

from __future__ import annotations

from typing import Protocol

from domain.channels.channel import Channel
from domain.common.ids import ConversationId


class ReplyStream(Protocol):
    def streams(self, channel: Channel) -> bool:
        """Whether this channel shows partial answers; when False the engine skips streaming."""
        ...

    async def typing(self, channel: Channel, conversation_id: ConversationId, on: bool) -> None: ...

    async def delta(self, channel: Channel, conversation_id: ConversationId, reply_id: str, text: str) -> None:
        """One more piece of the answer `reply_id`; the final message carries the same id."""
        ...
