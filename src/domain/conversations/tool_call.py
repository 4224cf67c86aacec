"""A record of one tool the assistant called during a turn, kept for the tenant to audit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import attrs

from domain.common.ids import ConversationId, MessageId, TenantId
from domain.common.time import utc_now


@attrs.frozen
class ToolCallRecord:
    id: uuid.UUID
    tenant_id: TenantId
    conversation_id: ConversationId
    # The inbound message whose turn made the call (the last one, when a burst was merged).
    message_id: MessageId
    # 1-based round of the function-calling loop.
    iteration: int
    call_id: str
    name: str
    arguments: dict[str, Any]
    result: str
    ok: bool
    duration_ms: float
    created_at: datetime = attrs.field(factory=utc_now)
