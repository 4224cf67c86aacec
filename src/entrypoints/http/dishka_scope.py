"""dishka's per-request scope, opened after routing and only for the routes that need one.

dishka's `setup_dishka` wraps the whole ASGI app, so every request pays for a child container (and its
Request and State objects) before Litestar even knows the route. Litestar runs app middleware after
routing, so this one sees the route handler: handlers declared with `APP_SCOPE_ONLY` (webhook
acknowledgements: every dependency they use lives for the whole app) get the app container itself.
Asking such a container for a request-scoped dependency fails loudly rather than silently sharing it.
"""

from __future__ import annotations

from typing import Any

from dishka import AsyncContainer
from dishka import Scope as DIScope
from litestar import Request, WebSocket
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

# `opt` of a route handler whose dependencies are all app-scoped.
APP_SCOPE_ONLY: dict[str, Any] = {"dishka_app_scope_only": True}
# Where dishka's Litestar integration (FromDishka injection) and our code look for the container.
STATE_CONTAINER = "dishka_container"


def dishka_scope_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != ScopeType.HTTP and kind != ScopeType.WEBSOCKET:
            await app(scope, receive, send)
            return
        container: AsyncContainer = scope["litestar_app"].state.dishka_container
        state = scope.setdefault("state", {})
        if scope["route_handler"].opt.get("dishka_app_scope_only"):
            state[STATE_CONTAINER] = container
            await app(scope, receive, send)
            return
        if kind == ScopeType.HTTP:
            context: dict[Any, Any] = {Request: Request(scope)}
            di_scope = DIScope.REQUEST
        else:
            context = {WebSocket: WebSocket(scope)}
            di_scope = DIScope.SESSION
        async with container(context, scope=di_scope) as scoped:
            state[STATE_CONTAINER] = scoped
            await app(scope, receive, send)

    return middleware
