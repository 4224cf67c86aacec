"""Litestar application factory: routes, error mapping, auth dependency, OpenAPI, request logging."""

from __future__ import annotations

from typing import Any

from dishka import AsyncContainer
from dishka.integrations.litestar import DishkaRouter
from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.types import ControllerRouterHandler

from application.ports.api_log import ApiLogSink
from entrypoints.gc_tuning import tune_for_server
from entrypoints.http import webhook_intake
from entrypoints.http.dishka_scope import dishka_scope_middleware
from entrypoints.http.errors import EXCEPTION_HANDLERS, refuse_nul_in_url
from entrypoints.http.openapi import complete_openapi, openapi_config
from entrypoints.http.request_context import request_context_middleware
from entrypoints.http.routes.api_keys import ApiKeyController
from entrypoints.http.routes.channels import ChannelController
from entrypoints.http.routes.conversations import ConversationController
from entrypoints.http.routes.dashboard import dashboard_router, root
from entrypoints.http.routes.documents import DocumentController, KnowledgeSearchController
from entrypoints.http.routes.health import health
from entrypoints.http.routes.metrics import metrics
from entrypoints.http.routes.tenant_webhooks import TenantWebhookController
from entrypoints.http.routes.tenants import TenantController
from entrypoints.http.routes.tools import ToolController
from entrypoints.http.routes.webchat import WEBCHAT_HANDLERS
from entrypoints.http.routes.webhooks import WebhookController
from entrypoints.http.security import provide_actor
from entrypoints.settings import Settings
from entrypoints.ws.webchat import webchat_socket

ROUTE_HANDLERS: list[ControllerRouterHandler] = [
    TenantController,
    ChannelController,
    ApiKeyController,
    health,
    metrics,
    WebhookController,
    TenantWebhookController,
    *WEBCHAT_HANDLERS,
    webchat_socket,
    ConversationController,
    ToolController,
    DocumentController,
    KnowledgeSearchController,
]


class _DeferredSink:
    """The api_logs sink lives in the container, which opens at start-up; the middleware exists before."""

    def __init__(self) -> None:
        self.target: ApiLogSink | None = None

    def record(self, entry: Any) -> None:
        if self.target is not None:
            self.target.record(entry)


def create_app(
    container: AsyncContainer, settings: Settings, extra_handlers: list[ControllerRouterHandler] | None = None
) -> Litestar:
    sink = _DeferredSink()

    async def on_startup() -> None:
        sink.target = await container.get(ApiLogSink)
        tune_for_server()

    async def on_shutdown() -> None:
        await container.close()

    router = DishkaRouter("", route_handlers=[*ROUTE_HANDLERS, root, dashboard_router(), *(extra_handlers or [])])
    app = Litestar(
        route_handlers=[router],
        dependencies={"actor": Provide(provide_actor)},
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        before_request=refuse_nul_in_url,
        middleware=[request_context_middleware(sink), dishka_scope_middleware],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        request_max_body_size=settings.http.max_body_bytes,
        openapi_config=openapi_config(),
        on_app_init=[_quiet_litestar_logging],
        debug=False,
    )
    complete_openapi(app, webhook_intake.operations())
    # In place of dishka's setup_dishka, which opens a request scope for every request before routing.
    app.state.dishka_container = container
    # Meta's event POSTs skip Litestar's handler pipeline (see webhook_intake); `asgi_handler` is what
    # Litestar calls for every HTTP and WebSocket request, lifespan aside.
    app.asgi_handler = webhook_intake.in_front_of(
        app.asgi_handler, request_context_middleware(sink)(webhook_intake.WebhookIntakeEndpoint(container))
    )
    return app


def _quiet_litestar_logging(config: AppConfig) -> AppConfig:
    # Our JSON logging is configured by the CLI; Litestar must not install its own handlers.
    config.logging_config = None
    return config
