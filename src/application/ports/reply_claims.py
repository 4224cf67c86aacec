"""The quick way to claim a bot reply: one committed statement, where deciding in a transaction takes five
round trips."""

from __future__ import annotations

from typing import Protocol

from domain.conversations.message import Message


class ReplyClaims(Protocol):
    async def claim_unanswered(self, reply: Message, last_input: Message) -> bool:
        """Store the pending `reply` under its idempotency key, and commit it, if its conversation is with the
        bot and nothing at all has been stored in it since `last_input`. False means that did not hold, or the
        key was taken, and nothing was stored: the caller then decides in a transaction of its own, which
        can tell a user who wrote again from an agent who answered or a reaction that changes nothing."""
        ...
