"""ASGI middleware around every HTTP request: correlation id, api_logs entry, latency."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from application.auth import Principal
from application.ports.api_log import ApiLogEntry, ApiLogSink
from domain.common.ids import PLATFORM_TENANT
from entrypoints.http.security import STATE_PRINCIPAL
from entrypoints.logging import correlation_id_var, tenant_id_var

CORRELATION_HEADER = b"x-correlation-id"


def request_context_middleware(sink: ApiLogSink) -> Any:
    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            correlation_id = _incoming_correlation_id(scope) or secrets.token_hex(16)
            correlation_token = correlation_id_var.set(correlation_id)
            tenant_token = tenant_id_var.set(None)
            status = 500

            async def send_wrapper(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message["headers"] = [
                        *message.get("headers", []),
                        (CORRELATION_HEADER, correlation_id.encode()),
                    ]
                await send(message)

            try:
                await app(scope, receive, send_wrapper)
            finally:
                principal: Principal | None = scope.get("state", {}).get(STATE_PRINCIPAL)
                route = scope.get("path_template") or scope.get("route_handler_path") or "unmatched"
                client = scope.get("client")
                sink.record(
                    ApiLogEntry(
                        tenant_id=(principal.tenant_id if principal and principal.tenant_id else PLATFORM_TENANT),
                        api_key_id=principal.key_id if principal else None,
                        method=str(scope.get("method", "")),
                        route=str(route),
                        status=status,
                        latency_ms=(time.perf_counter() - started) * 1000,
                        client_ip=client[0] if client else None,
                        correlation_id=correlation_id,
                        created_at=datetime.now(UTC),
                    )
                )
                correlation_id_var.reset(correlation_token)
                tenant_id_var.reset(tenant_token)

        return middleware

    return factory


def _incoming_correlation_id(scope: Scope) -> str:
    # A scan, not dict(headers): most requests carry none, and this runs on every request.
    for name, value in scope["headers"]:
        if name == CORRELATION_HEADER:
            return value.decode("latin-1")[:100]
    return ""
