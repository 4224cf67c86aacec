from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import attrs
import msgspec

from application.conversations.get_conversation import ConversationDetail
from application.conversations.outbound_content import AgentContent, Reaction
from application.conversations.views import ConversationView, MessageView, ToolCallView
from application.ports.channel_gateway import (
    InteractiveMessage,
    ListRow,
    ListSection,
    OutboundMedia,
    ReplyButton,
    TemplateMessage,
)
from domain.common.ids import MessageId
from domain.conversations.message import MessageType
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


MediaKind = Literal["image", "audio", "video", "document", "sticker"]
_CAPTIONED: frozenset[str] = frozenset({"image", "video", "document"})
_MAX_LIST_ROWS = 10


class AgentMedia(Strict):
    """A file by a public `link` or by the `id` of media uploaded to the provider: exactly one of them."""

    type: MediaKind
    link: Annotated[str, msgspec.Meta(max_length=2000, pattern=r"^https?://\S+$")] | None = None
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    # Images, videos and documents only.
    caption: Annotated[str, msgspec.Meta(max_length=1024)] = ""
    # Documents only: the name the recipient sees.
    filename: Annotated[str, msgspec.Meta(max_length=240)] = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.link is None) == (self.id is None):
            raise ValueError("media needs exactly one of link or id")
        if self.caption and self.type not in _CAPTIONED:
            raise ValueError(f"{self.type} media takes no caption")
        if self.filename and self.type != "document":
            raise ValueError("only document media takes a filename")


class AgentTemplate(Strict):
    """An approved WhatsApp message template (the only thing that goes out outside the 24-hour window)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")]
    language: Annotated[str, msgspec.Meta(min_length=2, max_length=15, examples=["en_US"])]
    # Parameters as the Graph API spells them, e.g. {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}.
    components: Annotated[list[dict[str, Any]], msgspec.Meta(max_length=20)] = []


class AgentButton(Strict):
    # Comes back in the contact's tap (an interactive_reply or postback message).
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]


class AgentListRow(Strict):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=24)]
    description: Annotated[str, msgspec.Meta(max_length=72)] = ""


class AgentListSection(Strict):
    rows: Annotated[list[AgentListRow], msgspec.Meta(min_length=1, max_length=10)]
    title: Annotated[str, msgspec.Meta(max_length=24)] = ""


class AgentInteractive(Strict):
    """Up to 3 reply `buttons`, or a list (`list_button` opens `sections` of rows, 10 rows in all)."""

    body: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    buttons: Annotated[list[AgentButton], msgspec.Meta(max_length=3)] = []
    list_button: Annotated[str, msgspec.Meta(max_length=20)] = ""
    sections: Annotated[list[AgentListSection], msgspec.Meta(max_length=10)] = []
    header: Annotated[str, msgspec.Meta(max_length=60)] = ""
    footer: Annotated[str, msgspec.Meta(max_length=60)] = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if bool(self.buttons) == bool(self.sections):
            raise ValueError("interactive needs either buttons or sections")
        if self.sections and not self.list_button:
            raise ValueError("a list needs list_button, the label that opens it")
        if sum(len(section.rows) for section in self.sections) > _MAX_LIST_ROWS:
            raise ValueError(f"a list holds at most {_MAX_LIST_ROWS} rows in all")


class AgentReaction(Strict):
    # Our id of a message of this conversation (the `id` in its messages), not the provider's.
    message_id: uuid.UUID
    # An empty emoji removes our reaction.
    emoji: Annotated[str, msgspec.Meta(max_length=32, examples=["👍"])]


_CONTENT_FIELDS = ("text", "media", "template", "interactive", "reaction")


class AgentMessageBody(Strict):
    """Exactly one of `text`, `media`, `template` (WhatsApp), `interactive` or `reaction`
    (WhatsApp, Messenger); the web chat takes text only."""

    text: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)] | None = None
    media: AgentMedia | None = None
    template: AgentTemplate | None = None
    interactive: AgentInteractive | None = None
    reaction: AgentReaction | None = None
    agent_name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    # Retrying with the same id never sends the message twice.
    client_message_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        given = [name for name in _CONTENT_FIELDS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "send exactly one of text, media, template, interactive or reaction"
                + (f" (got {', '.join(given)})" if given else "")
            )

    def content(self) -> AgentContent:
        if self.media is not None:
            media = self.media
            return OutboundMedia(
                type=MessageType(media.type),
                link=media.link,
                media_id=media.id,
                caption=media.caption,
                filename=media.filename,
            )
        if self.template is not None:
            return TemplateMessage(self.template.name, self.template.language, tuple(self.template.components))
        if self.interactive is not None:
            interactive = self.interactive
            return InteractiveMessage(
                body=interactive.body,
                buttons=tuple(ReplyButton(button.id, button.title) for button in interactive.buttons),
                list_button=interactive.list_button,
                sections=tuple(
                    ListSection(
                        section.title, tuple(ListRow(row.id, row.title, row.description) for row in section.rows)
                    )
                    for section in interactive.sections
                ),
                header=interactive.header,
                footer=interactive.footer,
            )
        if self.reaction is not None:
            return Reaction(MessageId(self.reaction.message_id), self.reaction.emoji)
        assert self.text is not None  # __post_init__ let exactly one through
        return self.text
