"""A conversation is one contact talking to one channel of a tenant."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

import attrs

from domain.common.errors import InvariantViolation
from domain.common.ids import ChannelId, ConversationId, TenantId
from domain.common.time import utc_now

# WhatsApp and Messenger allow free-form replies for 24 hours after the user's last message.
CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)


class ConversationState(StrEnum):
    BOT = "bot"
    HUMAN = "human"
    CLOSED = "closed"


@attrs.define
class Conversation:
    id: ConversationId
    tenant_id: TenantId
    channel_id: ChannelId
    contact_id: str
    contact_name: str = ""
    state: ConversationState = ConversationState.BOT
    last_inbound_at: datetime | None = None
    last_agent_at: datetime | None = None
    handoff_reason: str = ""
    created_at: datetime = attrs.field(factory=utc_now)
    updated_at: datetime = attrs.field(factory=utc_now)

    def record_inbound(self, at: datetime) -> None:
        if self.last_inbound_at is None or at > self.last_inbound_at:
            self.last_inbound_at = at
        if self.state is ConversationState.CLOSED:
            self.state = ConversationState.BOT
        self.updated_at = utc_now()

    def hand_to_human(self, reason: str) -> bool:
        if self.state is ConversationState.HUMAN:
            return False
        self.state = ConversationState.HUMAN
        self.handoff_reason = reason
        self.last_agent_at = utc_now()
        self.updated_at = self.last_agent_at
        return True

    def release_to_bot(self) -> bool:
        if self.state is not ConversationState.HUMAN:
            return False
        self.state = ConversationState.BOT
        self.handoff_reason = ""
        self.updated_at = utc_now()
        return True

    def record_agent_reply(self) -> None:
        if self.state is ConversationState.CLOSED:
            raise InvariantViolation("the conversation is closed")
        self.state = ConversationState.HUMAN
        self.last_agent_at = utc_now()
        self.updated_at = self.last_agent_at

    def close(self) -> None:
        self.state = ConversationState.CLOSED
        self.updated_at = utc_now()

    @property
    def is_with_human(self) -> bool:
        return self.state is ConversationState.HUMAN

    def window_open_at(self, moment: datetime) -> bool:
        return self.last_inbound_at is not None and moment - self.last_inbound_at < CUSTOMER_SERVICE_WINDOW

    def idle_with_human_since(self, moment: datetime, idle: timedelta) -> bool:
        return self.is_with_human and self.last_agent_at is not None and moment - self.last_agent_at >= idle
