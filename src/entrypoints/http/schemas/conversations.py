from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import attrs
import msgspec

from application.conversations.get_conversation import ConversationDetail
from application.conversations.views import ConversationView, MessageView, ToolCallView
from entrypoints.http.schemas.common import Strict


class MessageResponse(msgspec.Struct):
    id: uuid.UUID
    conversation_id: uuid.UUID
    direction: str
    sender: str
    type: str
    text: str
    # Type-specific payload; bot replies carry "citations" ([{number, document_id, title, url}]).
    content: dict[str, Any]
    status: str
    error: dict[str, Any] | None
    provider_message_id: str | None
    created_at: datetime
    occurred_at: datetime

    @classmethod
    def of(cls, view: MessageView) -> MessageResponse:
        return cls(
            id=view.id,
            conversation_id=view.conversation_id,
            direction=str(view.direction),
            sender=str(view.sender),
            type=str(view.type),
            text=view.text,
            content=view.content,
            status=str(view.status),
            error=None if view.error is None else attrs.asdict(view.error),
            provider_message_id=view.provider_message_id,
            created_at=view.created_at,
            occurred_at=view.occurred_at,
        )


class ConversationResponse(msgspec.Struct):
    id: uuid.UUID
    tenant_id: uuid.UUID
    channel_id: uuid.UUID
    channel_kind: str | None
    contact_id: str
    contact_name: str
    # "bot" (the assistant answers), "human" (a person has it), "closed".
    state: str
    handoff_reason: str
    last_inbound_at: datetime | None
    last_agent_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_message: MessageResponse | None = None

    @classmethod
    def of(cls, view: ConversationView) -> ConversationResponse:
        return cls(
            id=view.id,
            tenant_id=view.tenant_id,
            channel_id=view.channel_id,
            channel_kind=None if view.channel_kind is None else str(view.channel_kind),
            contact_id=view.contact_id,
            contact_name=view.contact_name,
            state=str(view.state),
            handoff_reason=view.handoff_reason,
            last_inbound_at=view.last_inbound_at,
            last_agent_at=view.last_agent_at,
            created_at=view.created_at,
            updated_at=view.updated_at,
            last_message=None if view.last_message is None else MessageResponse.of(view.last_message),
        )


class ConversationPage(msgspec.Struct):
    items: list[ConversationResponse]
    next_cursor: str | None


class MessagePage(msgspec.Struct):
    items: list[MessageResponse]
    next_cursor: str | None


class ToolCallResponse(msgspec.Struct):
    id: str
    message_id: uuid.UUID
    iteration: int
    name: str
    arguments: dict[str, Any]
    result: str
    ok: bool
    duration_ms: float
    created_at: datetime

    @classmethod
    def of(cls, view: ToolCallView) -> ToolCallResponse:
        return cls(
            id=view.id,
            message_id=view.message_id,
            iteration=view.iteration,
            name=view.name,
            arguments=view.arguments,
            result=view.result,
            ok=view.ok,
            duration_ms=view.duration_ms,
            created_at=view.created_at,
        )


class ConversationDetailResponse(msgspec.Struct):
    conversation: ConversationResponse
    # Newest first; pass messages.next_cursor as messages_cursor for older ones.
    messages: MessagePage
    tool_calls: list[ToolCallResponse]

    @classmethod
    def of(cls, detail: ConversationDetail) -> ConversationDetailResponse:
        return cls(
            conversation=ConversationResponse.of(detail.conversation),
            messages=MessagePage(
                items=[MessageResponse.of(view) for view in detail.messages.items],
                next_cursor=detail.messages.next_cursor,
            ),
            tool_calls=[ToolCallResponse.of(call) for call in detail.tool_calls],
        )


Reason = Annotated[str, msgspec.Meta(max_length=500)]


class HandoffBody(Strict):
    reason: Reason = "taken over by an agent"


class ReleaseBody(Strict):
    reason: Reason = "released by an agent"


class AgentMessageBody(Strict):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    agent_name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    # Retrying with the same id never sends the message twice.
    client_message_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
