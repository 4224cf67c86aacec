"""Consumer-side dedupe: at-least-once transports deliver some messages twice; a consumer records
each message id in the transaction that applies its effect, so the second copy changes nothing."""

from __future__ import annotations

import uuid
from typing import Protocol

from domain.common.ids import TenantId


class ProcessedMessages(Protocol):
    async def record(self, tenant_id: TenantId, consumer: str, message_id: uuid.UUID) -> bool:
        """True the first time this consumer sees the message; False for a copy it already applied."""
        ...
