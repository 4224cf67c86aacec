"""A widget's WebSocket presents its token: valid, for a channel that is still active, and (from a
browser on another site) only from one of the channel's allowed origins."""

from __future__ import annotations

import attrs

from application.errors import Forbidden
from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.webchat import InvalidVisitorToken, VisitorClaims, VisitorTokens
from domain.channels.channel import ChannelKind, WebChatConfig


@attrs.frozen
class OpenVisitorConnectionInput:
    token: str
    # The Origin of a cross-site browser connection; None for the widget's own frame (same origin as the
    # platform) and for clients that send no Origin.
    foreign_origin: str | None


class OpenVisitorConnection:
    def __init__(self, uow_factory: UnitOfWorkFactory, tokens: VisitorTokens) -> None:
        self._uow_factory = uow_factory
        self._tokens = tokens

    async def execute(self, data: OpenVisitorConnectionInput) -> VisitorClaims:
        """Raises InvalidVisitorToken (the widget should fetch a new token) or Forbidden."""
        claims = self._tokens.verify(data.token)
        async with self._uow_factory(claims.tenant_id) as uow:
            channel = await uow.channels.get(claims.tenant_id, claims.channel_id)
        if (
            channel is None
            or channel.kind is not ChannelKind.WEBCHAT
            or not isinstance(channel.config, WebChatConfig)
            or channel.config.widget_id != claims.widget_id
        ):
            # The channel was deleted or its widget id changed: the token names something gone.
            raise InvalidVisitorToken("the web chat token is not valid")
        if not channel.active:
            raise Forbidden("this chat is closed", details={"reason": "inactive"})
        if data.foreign_origin is not None and not channel.config.allows_origin(data.foreign_origin):
            raise Forbidden("this widget is not allowed on this site", details={"reason": "origin"})
        return claims
