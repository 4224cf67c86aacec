"""What the widget is told: its look, and the conversation as numbered messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from application.ports.webchat import TimelineEntry
from domain.channels.channel import WebChatConfig
from domain.conversations.message import Direction, MessageType, SenderRole

_MAX_CITATIONS = 10


@attrs.frozen
class WidgetLook:
    widget_id: str
    title: str
    brand_color: str
    position: str
    greeting: str
    avatar_url: str

    @classmethod
    def of(cls, config: WebChatConfig) -> WidgetLook:
        return cls(
            widget_id=config.widget_id,
            title=config.title,
            brand_color=config.brand_color,
            position=config.position,
            greeting=config.greeting,
            avatar_url=config.avatar_url,
        )


@attrs.frozen
class CitationView:
    number: int
    title: str
    url: str | None = None


@attrs.frozen
class ChatMessageView:
    seq: int
    id: str
    # "visitor", "bot", "agent" or "system"
    role: str
    text: str
    created_at: datetime
    # The id the visitor's tab gave its message, so that tab can confirm what it showed as pending.
    client_id: str | None = None
    # The id the answer was streamed under, so the streamed text is replaced by the stored message.
    reply_id: str | None = None
    citations: tuple[CitationView, ...] = ()

    @classmethod
    def of(cls, entry: TimelineEntry) -> ChatMessageView:
        content = entry.content
        return cls(
            seq=entry.seq,
            id=str(entry.message_id),
            role=_role(entry),
            text=entry.text,
            created_at=entry.created_at,
            client_id=_text_or_none(content.get("client_id")),
            reply_id=_text_or_none(content.get("reply_id")),
            citations=_citations(content.get("citations")),
        )


def shown_to_visitor(entry: TimelineEntry) -> bool:
    """Notes in the timeline (handed to a person, released …) are for the tenant's team; the widget
    announces a handoff in its own words."""
    return bool(entry.text) and entry.type is not MessageType.SYSTEM


def _role(entry: TimelineEntry) -> str:
    if entry.sender is SenderRole.CONTACT:
        return "visitor"
    if entry.direction is Direction.INBOUND:  # never stored so from the widget; not the visitor's words
        return "system"
    return str(entry.sender)


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _citations(raw: Any) -> tuple[CitationView, ...]:
    """Citations as the engine stored them (domain.conversations.citations.Citation.to_dict); anything
    odd is left out rather than failing the whole conversation."""
    if not isinstance(raw, list):
        return ()
    views = []
    for index, item in enumerate(raw[:_MAX_CITATIONS], start=1):
        if not isinstance(item, dict):
            continue
        title = item.get("title")
        url = item.get("url")
        number = item.get("number")
        views.append(
            CitationView(
                number=number if isinstance(number, int) else index,
                title=title if isinstance(title, str) and title else "Source",
                url=url if isinstance(url, str) and url.startswith(("https://", "http://")) else None,
            )
        )
    return tuple(views)
