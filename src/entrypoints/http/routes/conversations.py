from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from dishka import FromDishka
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from application.conversations.get_conversation import GetConversation, GetConversationInput
from application.conversations.hand_off_conversation import HandOffConversation, HandOffConversationInput
from application.conversations.list_conversations import ListConversations, ListConversationsInput
from application.conversations.release_conversation import ReleaseConversation, ReleaseConversationInput
from application.conversations.send_agent_message import SendAgentMessage, SendAgentMessageInput
from application.errors import InvalidInput
from domain.common.ids import ChannelId, ConversationId, TenantId
from domain.conversations.conversation import ConversationState
from entrypoints.http.openapi import documented
from entrypoints.http.schemas.conversations import (
    AgentMessageBody,
    ConversationDetailResponse,
    ConversationPage,
    ConversationResponse,
    HandoffBody,
    MessageResponse,
    ReleaseBody,
)
from entrypoints.http.security import Actor

# RFC 3339 with a zone, as the document says (a datetime parameter would also take a number, as a Unix
# timestamp, and a time without a zone).
_RFC3339 = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"


def _instant(description: str) -> Any:
    return QueryParameter(description=description, pattern=_RFC3339, schema_extra={"format": "date-time"})


def _parsed_instant(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as error:
        raise InvalidInput(f"{name} is not a date and time that exists", details={"field": name}) from error


class ConversationController(Controller):
    path = "/api/tenants/{tenant_id:uuid}/conversations"
    tags = ["conversations"]

    @get("/", summary="List conversations (filter by channel, state, last activity; search message text)")
    async def list_conversations(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        use_case: FromDishka[ListConversations],
        channel_id: FromQuery[uuid.UUID | None] = None,
        # "state" itself is a name Litestar reserves for the application state.
        conversation_state: Annotated[Literal["bot", "human", "closed"] | None, QueryParameter(name="state")] = None,
        since: Annotated[str | None, _instant("last activity at or after")] = None,
        until: Annotated[str | None, _instant("last activity before")] = None,
        q: Annotated[str | None, QueryParameter(max_length=200, description="full-text search over messages")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, QueryParameter(max_length=500)] = None,
    ) -> ConversationPage:
        page = await use_case.execute(
            ListConversationsInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                channel_id=None if channel_id is None else ChannelId(channel_id),
                state=None if conversation_state is None else ConversationState(conversation_state),
                since=_parsed_instant("since", since),
                until=_parsed_instant("until", until),
                search=q,
                limit=limit,
                cursor=cursor,
            )
        )
        return ConversationPage(
            items=[ConversationResponse.of(view) for view in page.items], next_cursor=page.next_cursor
        )

    @get("/{conversation_id:uuid}", summary="A conversation with its messages (newest first) and tool calls")
    async def get_conversation(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        conversation_id: FromPath[uuid.UUID],
        use_case: FromDishka[GetConversation],
        messages_limit: Annotated[int, QueryParameter(ge=1, le=200)] = 100,
        messages_cursor: Annotated[str | None, QueryParameter(max_length=500)] = None,
    ) -> ConversationDetailResponse:
        detail = await use_case.execute(
            GetConversationInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                conversation_id=ConversationId(conversation_id),
                messages_limit=messages_limit,
                messages_cursor=messages_cursor,
            )
        )
        return ConversationDetailResponse.of(detail)

    @post(
        "/{conversation_id:uuid}/handoff", summary="Hand the conversation to a person (the bot stops)", status_code=200
    )
    async def hand_off(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        conversation_id: FromPath[uuid.UUID],
        use_case: FromDishka[HandOffConversation],
        data: JSONBody[HandoffBody | None] = None,
    ) -> ConversationResponse:
        body = data or HandoffBody()
        view = await use_case.execute(
            HandOffConversationInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                conversation_id=ConversationId(conversation_id),
                reason=body.reason,
            )
        )
        return ConversationResponse.of(view)

    @post("/{conversation_id:uuid}/release", summary="Give the conversation back to the bot", status_code=200)
    async def release(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        conversation_id: FromPath[uuid.UUID],
        use_case: FromDishka[ReleaseConversation],
        data: JSONBody[ReleaseBody | None] = None,
    ) -> ConversationResponse:
        body = data or ReleaseBody()
        view = await use_case.execute(
            ReleaseConversationInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                conversation_id=ConversationId(conversation_id),
                reason=body.reason,
            )
        )
        return ConversationResponse.of(view)

    @post(
        "/{conversation_id:uuid}/messages",
        summary="Send an agent's reply (text, media, template, buttons or list, reaction) through the conversation's"
        " channel",
        opt=documented(409),
    )
    async def send_message(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        conversation_id: FromPath[uuid.UUID],
        data: JSONBody[AgentMessageBody],
        use_case: FromDishka[SendAgentMessage],
    ) -> MessageResponse:
        view = await use_case.execute(
            SendAgentMessageInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                conversation_id=ConversationId(conversation_id),
                content=data.content(),
                agent_name=data.agent_name,
                client_message_id=data.client_message_id,
            )
        )
        return MessageResponse.of(view)
