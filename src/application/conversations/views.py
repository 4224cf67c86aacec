"""What callers and event consumers see of conversations and messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from domain.channels.channel import ChannelKind
from domain.common.ids import ChannelId, ConversationId, MessageId, TenantId
from domain.conversations.conversation import Conversation, ConversationState
from domain.conversations.message import DeliveryStatus, Direction, Message, MessageError, MessageType, SenderRole
from domain.conversations.tool_call import ToolCallRecord
from domain.events import Event, EventType


@attrs.frozen
class MessageView:
    id: MessageId
    conversation_id: ConversationId
    direction: Direction
    sender: SenderRole
    type: MessageType
    text: str
    content: dict[str, Any]
    status: DeliveryStatus
    error: MessageError | None
    provider_message_id: str | None
    created_at: datetime
    occurred_at: datetime

    @classmethod
    def of(cls, message: Message) -> MessageView:
        return cls(
            id=message.id,
            conversation_id=message.conversation_id,
            direction=message.direction,
            sender=message.sender,
            type=message.type,
            text=message.text,
            content=message.content,
            status=message.status,
            error=message.error,
            provider_message_id=message.provider_message_id,
            created_at=message.created_at,
            occurred_at=message.occurred_at,
        )


@attrs.frozen
class ConversationView:
    id: ConversationId
    tenant_id: TenantId
    channel_id: ChannelId
    channel_kind: ChannelKind | None
    contact_id: str
    contact_name: str
    state: ConversationState
    handoff_reason: str
    last_inbound_at: datetime | None
    last_agent_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_message: MessageView | None = None

    @classmethod
    def of(
        cls, conversation: Conversation, kind: ChannelKind | None = None, last_message: Message | None = None
    ) -> ConversationView:
        return cls(
            id=conversation.id,
            tenant_id=conversation.tenant_id,
            channel_id=conversation.channel_id,
            channel_kind=kind,
            contact_id=conversation.contact_id,
            contact_name=conversation.contact_name,
            state=conversation.state,
            handoff_reason=conversation.handoff_reason,
            last_inbound_at=conversation.last_inbound_at,
            last_agent_at=conversation.last_agent_at,
            created_at=conversation.created_at,
            updated_at=conversation.updated_at,
            last_message=None if last_message is None else MessageView.of(last_message),
        )


@attrs.frozen
class ToolCallView:
    id: str
    message_id: MessageId
    iteration: int
    name: str
    arguments: dict[str, Any]
    result: str
    ok: bool
    duration_ms: float
    created_at: datetime

    @classmethod
    def of(cls, record: ToolCallRecord) -> ToolCallView:
        return cls(
            id=record.call_id,
            message_id=record.message_id,
            iteration=record.iteration,
            name=record.name,
            arguments=record.arguments,
            result=record.result,
            ok=record.ok,
            duration_ms=record.duration_ms,
            created_at=record.created_at,
        )


def message_event(message: Message, contact_id: str) -> Event:
    """message.sent or message.failed for an outbound message, once its fate is known."""
    failed = message.status is DeliveryStatus.FAILED
    data: dict[str, Any] = {
        "message_id": str(message.id),
        "conversation_id": str(message.conversation_id),
        "channel_id": str(message.channel_id),
        "contact_id": contact_id,
        "direction": str(message.direction),
        "sender": str(message.sender),
        "type": str(message.type),
        "text": message.text,
        "status": str(message.status),
        "provider_message_id": message.provider_message_id,
        "occurred_at": message.occurred_at.isoformat(),
    }
    if "citations" in message.content:
        data["citations"] = message.content["citations"]
    if failed and message.error is not None:
        data["error"] = attrs.asdict(message.error)
    return Event(
        type=EventType.MESSAGE_FAILED if failed else EventType.MESSAGE_SENT,
        tenant_id=message.tenant_id,
        aggregate_key=f"conversation:{message.conversation_id}",
        data=data,
    )


def conversation_event(event_type: str, conversation: Conversation, **details: Any) -> Event:
    return Event(
        type=event_type,
        tenant_id=conversation.tenant_id,
        aggregate_key=f"conversation:{conversation.id}",
        data={
            "conversation_id": str(conversation.id),
            "channel_id": str(conversation.channel_id),
            "contact_id": conversation.contact_id,
            "contact_name": conversation.contact_name,
            "state": str(conversation.state),
            **details,
        },
    )
