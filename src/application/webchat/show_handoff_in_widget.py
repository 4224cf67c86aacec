"""A person took a web chat conversation over, or left it: the visitor's widget says so at once, not
only when the next message arrives (worker side, on conversation.handoff / conversation.released)."""

from __future__ import annotations

import uuid

from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.webchat import LiveEvent, LiveEventKind, LiveFanout, VisitorTopic
from domain.channels.channel import ChannelKind
from domain.common.ids import ChannelId
from domain.events import Event


class ShowHandoffInWidget:
    def __init__(self, uow_factory: UnitOfWorkFactory, fanout: LiveFanout) -> None:
        self._uow_factory = uow_factory
        self._fanout = fanout

    async def execute(self, event: Event) -> None:
        raw_channel, contact_id = event.data.get("channel_id"), event.data.get("contact_id")
        if not isinstance(raw_channel, str) or not isinstance(contact_id, str):
            return
        try:
            channel_id = ChannelId(uuid.UUID(raw_channel))
        except ValueError:
            return
        async with self._uow_factory(event.tenant_id) as uow:
            channel = await uow.channels.get(event.tenant_id, channel_id)
        if channel is None or channel.kind is not ChannelKind.WEBCHAT:
            return
        # The sockets read the conversation's state from the database and announce the change.
        await self._fanout.publish(
            VisitorTopic(event.tenant_id, channel_id, contact_id), LiveEvent(LiveEventKind.HANDOFF)
        )
