"""Where a send's outcome is kept: the message's delivery columns and the event that tells of them."""

from __future__ import annotations

from typing import Protocol

from domain.conversations.message import Message
from domain.events import Event


class DeliveryOutcomes(Protocol):
    async def record(self, message: Message, event: Event) -> None:
        """Store the message's delivery status, provider id and error as it has them now, and stage the
        event, in one transaction of the message's tenant; returns once it has committed."""
        ...
