"""The visitor is typing: told to whoever watches the conversation live (an agent's console)."""

from __future__ import annotations

import attrs

from application.ports.webchat import LiveEvent, LiveEventKind, LiveFanout, VisitorClaims, VisitorTopic


@attrs.frozen
class ShowVisitorTypingInput:
    visitor: VisitorClaims
    on: bool


class ShowVisitorTyping:
    def __init__(self, fanout: LiveFanout) -> None:
        self._fanout = fanout

    async def execute(self, data: ShowVisitorTypingInput) -> None:
        visitor = data.visitor
        await self._fanout.publish(
            VisitorTopic(visitor.tenant_id, visitor.channel_id, visitor.visitor_id),
            LiveEvent(LiveEventKind.TYPING, {"on": data.on, "role": "visitor"}),
        )
