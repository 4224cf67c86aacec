"""An inbox entry is one provider event (a message, a status, …) as it arrived, stored before we
acknowledged the webhook, and processed exactly once afterwards."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

from domain.channels.channel import ChannelKind
from domain.common.ids import ChannelId, MessageId, TenantId
from domain.common.time import utc_now


class InboxState(StrEnum):
    PENDING = "pending"
    PROCESSED = "processed"
    # Authentic but nothing to do: an echo of our own send, a status for an unknown message, …
    IGNORED = "ignored"


@attrs.define
class InboxEntry:
    id: uuid.UUID
    tenant_id: TenantId
    channel_id: ChannelId
    kind: ChannelKind
    # Unique per channel: the wamid / mid, "status:<id>:<status>", … (see the channel adapters).
    provider_event_key: str
    payload: dict[str, Any]
    # The contact the event concerns; the worker handles one contact's events one at a time.
    contact_id: str
    received_at: datetime = attrs.field(factory=utc_now)
    state: InboxState = InboxState.PENDING
    outcome: str = ""
    message_id: MessageId | None = None
    processed_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.state is not InboxState.PENDING

    def mark_processed(self, outcome: str, message_id: MessageId | None = None) -> None:
        self._finish(InboxState.PROCESSED, outcome, message_id)

    def mark_ignored(self, reason: str) -> None:
        self._finish(InboxState.IGNORED, reason, None)

    def _finish(self, state: InboxState, outcome: str, message_id: MessageId | None) -> None:
        if self.done:
            raise ValueError("an inbox entry is processed only once")
        self.state = state
        self.outcome = outcome
        self.message_id = message_id
        self.processed_at = utc_now()
