"""Streamed answers and typing for the web chat: published to the visitor's topic as they happen."""

from __future__ import annotations

from collections import OrderedDict

from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.webchat import LiveEvent, LiveEventKind, LiveFanout, VisitorTopic
from domain.channels.channel import Channel, ChannelKind
from domain.common.ids import ConversationId

_REMEMBERED_CONVERSATIONS = 10_000


class WebChatReplyStream:
    def __init__(self, fanout: LiveFanout, uow_factory: UnitOfWorkFactory) -> None:
        self._fanout = fanout
        self._uow_factory = uow_factory
        # conversation → visitor never changes; one lookup per conversation, not per token.
        self._visitors: OrderedDict[ConversationId, str] = OrderedDict()

    def streams(self, channel: Channel) -> bool:
        return channel.kind is ChannelKind.WEBCHAT

    async def typing(self, channel: Channel, conversation_id: ConversationId, on: bool) -> None:
        await self._publish(channel, conversation_id, LiveEvent(LiveEventKind.TYPING, {"on": on, "role": "bot"}))

    async def delta(self, channel: Channel, conversation_id: ConversationId, reply_id: str, text: str) -> None:
        await self._publish(
            channel, conversation_id, LiveEvent(LiveEventKind.DELTA, {"reply_id": reply_id, "text": text})
        )

    async def _publish(self, channel: Channel, conversation_id: ConversationId, event: LiveEvent) -> None:
        if not self.streams(channel):
            return
        visitor_id = await self._visitor(channel, conversation_id)
        if visitor_id is not None:
            await self._fanout.publish(VisitorTopic(channel.tenant_id, channel.id, visitor_id), event)

    async def _visitor(self, channel: Channel, conversation_id: ConversationId) -> str | None:
        visitor_id = self._visitors.get(conversation_id)
        if visitor_id is not None:
            self._visitors.move_to_end(conversation_id)
            return visitor_id
        async with self._uow_factory(channel.tenant_id) as uow:
            conversation = await uow.conversations.get(channel.tenant_id, conversation_id)
        if conversation is None or conversation.channel_id != channel.id:
            return None
        self._visitors[conversation_id] = conversation.contact_id
        if len(self._visitors) > _REMEMBERED_CONVERSATIONS:
            self._visitors.popitem(last=False)
        return conversation.contact_id
