"""A page with the widget asks for a session: the widget must exist, be active and be embedded on one
of its channel's allowed origins. The answer is a short-lived token for the WebSocket."""

from __future__ import annotations

from datetime import datetime

import attrs

from application.errors import Forbidden, NotFound
from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.webchat import VisitorTokens
from application.webchat.views import WidgetLook
from domain.channels.channel import Channel, ChannelKind, WebChatConfig

_MAX_WIDGET_ID_LENGTH = 100


@attrs.frozen
class StartWebChatSessionInput:
    widget_id: str
    # The page's origin as the browser stated it (None when there was no Origin header).
    origin: str | None
    # Kept in the widget's storage since the visitor's first visit; None (or unknown) starts a new one.
    visitor_id: str | None = None


@attrs.frozen
class WebChatSessionView:
    token: str
    expires_at: datetime
    visitor_id: str
    widget: WidgetLook


class StartWebChatSession:
    def __init__(self, uow_factory: UnitOfWorkFactory, tokens: VisitorTokens) -> None:
        self._uow_factory = uow_factory
        self._tokens = tokens

    async def execute(self, data: StartWebChatSessionInput) -> WebChatSessionView:
        channel = await find_widget_channel(self._uow_factory, data.widget_id)
        config = widget_config(channel)
        if not config.allows_origin(data.origin):
            raise Forbidden(
                "this widget is not allowed on this site", details={"origin": data.origin or "", "reason": "origin"}
            )
        visitor_id = data.visitor_id
        if visitor_id is None or not self._tokens.is_issued_visitor_id(visitor_id):
            visitor_id = self._tokens.new_visitor_id()
        issued = self._tokens.issue(channel.tenant_id, channel.id, config.widget_id, visitor_id)
        return WebChatSessionView(
            token=issued.token,
            expires_at=issued.claims.expires_at,
            visitor_id=visitor_id,
            widget=WidgetLook.of(config),
        )


async def find_widget_channel(uow_factory: UnitOfWorkFactory, widget_id: str) -> Channel:
    """The active web chat channel behind a public widget id (platform-wide lookup)."""
    if not widget_id or len(widget_id) > _MAX_WIDGET_ID_LENGTH:
        raise NotFound("no such widget")
    async with uow_factory(None) as uow:
        route = await uow.channels.route(ChannelKind.WEBCHAT, widget_id)
        channel = None if route is None else await uow.channels.locate(route.channel_id)
    if channel is None or not channel.active or channel.kind is not ChannelKind.WEBCHAT:
        raise NotFound("no such widget")
    return channel


def widget_config(channel: Channel) -> WebChatConfig:
    if not isinstance(channel.config, WebChatConfig):
        raise NotFound("no such widget")
    return channel.config
