from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from application.webchat.start_session import WebChatSessionView
from entrypoints.http.schemas.common import Strict


class StartWebChatSessionBody(Strict, rename="camel"):
    widget_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    # The id the widget stored on the visitor's first visit; omit it for a new visitor.
    visitor_id: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class WidgetLookResponse(msgspec.Struct, rename="camel"):
    widget_id: str
    title: str
    brand_color: str
    position: str
    greeting: str
    avatar_url: str


class WebChatSessionResponse(msgspec.Struct, rename="camel"):
    token: str
    expires_at: datetime
    visitor_id: str
    # Open a WebSocket here with ?token=…
    socket_path: str
    widget: WidgetLookResponse

    @classmethod
    def of(cls, view: WebChatSessionView, socket_path: str) -> WebChatSessionResponse:
        look = view.widget
        return cls(
            token=view.token,
            expires_at=view.expires_at,
            visitor_id=view.visitor_id,
            socket_path=socket_path,
            widget=WidgetLookResponse(
                widget_id=look.widget_id,
                title=look.title,
                brand_color=look.brand_color,
                position=look.position,
                greeting=look.greeting,
                avatar_url=look.avatar_url,
            ),
        )
