"""Providers for the web chat: visitor tokens, the live fan-out (Redis pub/sub when REDIS_URL is set, so
several API processes share it; in-process otherwise), the send side, streaming, and the use cases."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dishka import Provider, Scope, provide, provide_all
from redis.asyncio import Redis

from adapters.webchat.channel import WebChatChannel
from adapters.webchat.memory_fanout import InProcessLiveFanout
from adapters.webchat.redis_fanout import RedisLiveFanout
from adapters.webchat.reply_stream import WebChatReplyStream
from adapters.webchat.tokens import JwtVisitorTokens
from application.ports.clock import Clock
from application.ports.reply_stream import ReplyStream
from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.webchat import LiveFanout, VisitorTokens
from application.webchat.open_visitor_connection import OpenVisitorConnection
from application.webchat.prepare_demo import PrepareWebChatDemo
from application.webchat.read_visitor_conversation import ReadVisitorConversation
from application.webchat.receive_visitor_message import ReceiveVisitorMessage
from application.webchat.show_handoff_in_widget import ShowHandoffInWidget
from application.webchat.show_visitor_typing import ShowVisitorTyping
from application.webchat.start_session import StartWebChatSession
from entrypoints.http.widget_assets import WidgetAssets
from entrypoints.settings import ConfigurationError, Settings
from entrypoints.ws.webchat import OpenSockets


class WebChatProvider(Provider):
    scope = Scope.APP

    @provide
    def tokens(self, settings: Settings, clock: Clock) -> VisitorTokens:
        if not settings.secret_key:
            raise ConfigurationError("METACHAT_SECRET_KEY is not set")
        return JwtVisitorTokens(settings.secret_key, clock)

    channel = provide(WebChatChannel)

    @provide
    def reply_stream(self, fanout: LiveFanout, uow_factory: UnitOfWorkFactory) -> ReplyStream:
        return WebChatReplyStream(fanout, uow_factory)

    @provide
    def widget_assets(self) -> WidgetAssets:
        return WidgetAssets()

    @provide
    def open_sockets(self) -> OpenSockets:
        return OpenSockets()

    use_cases = provide_all(
        StartWebChatSession,
        OpenVisitorConnection,
        ReceiveVisitorMessage,
        ReadVisitorConversation,
        ShowVisitorTyping,
        PrepareWebChatDemo,
        ShowHandoffInWidget,
        scope=Scope.REQUEST,
    )


class RedisLiveFanoutProvider(Provider):
    scope = Scope.APP

    @provide
    async def fanout(self, client: Redis) -> AsyncIterator[LiveFanout]:
        fanout = RedisLiveFanout(client)
        yield fanout
        await fanout.close()


class InProcessLiveFanoutProvider(Provider):
    scope = Scope.APP

    @provide
    def fanout(self) -> LiveFanout:
        return InProcessLiveFanout()


def webchat_providers(settings: Settings) -> list[Provider]:
    fanout = RedisLiveFanoutProvider() if settings.redis_url else InProcessLiveFanoutProvider()
    return [WebChatProvider(), fanout]
