"""Authentication and rate limits as Litestar dependencies: every handler that declares `actor`
is authenticated; public endpoints use `limit_public` for their per-IP budget."""

from __future__ import annotations

from typing import Any

from dishka import AsyncContainer
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.types import Scope

from application.auth import AuthenticateApiKey, AuthenticateInput, Principal, SignedRequest
from application.errors import RateLimited
from application.ports.rate_limiter import RateLimiter, RateRule
from entrypoints.http.dishka_scope import STATE_CONTAINER
from entrypoints.logging import tenant_id_var
from entrypoints.settings import Settings

STATE_PRINCIPAL = "principal"


def _container(connection: ASGIConnection[Any, Any, Any, Any]) -> AsyncContainer:
    # From the scope's state dict itself: `connection.state` wraps it in a new State object per call.
    container: AsyncContainer = connection.scope["state"][STATE_CONTAINER]
    return container


def presented_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    authorization = connection.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return connection.headers.get("x-api-key") or None


def client_ip(scope: Scope, trust_forwarded_for: bool) -> str:
    if trust_forwarded_for:
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for" and value:
                return value.decode("latin-1").split(",")[0].strip()
    client = scope.get("client")
    return client[0] if client else "unknown"


async def provide_actor(request: Request[Any, Any, Any]) -> Principal:
    container = _container(request)
    authenticate = await container.get(AuthenticateApiKey)
    needs_body = "x-signature" in request.headers
    principal = await authenticate.execute(
        AuthenticateInput(
            presented_key=presented_key(request),
            request=SignedRequest(
                header=request.headers.get("x-signature"),
                method=request.method,
                path=request.url.path,
                body=await request.body() if needs_body else b"",
            ),
        )
    )
    request.state[STATE_PRINCIPAL] = principal
    if principal.tenant_id is not None:
        tenant_id_var.set(str(principal.tenant_id))
    if principal.key_id is not None and principal.rate_limits is not None:
        limiter = await container.get(RateLimiter)
        decision = await limiter.hit(
            [
                RateRule(f"key:{principal.key_id}", principal.rate_limits.per_key_per_minute),
                RateRule(f"tenant:{principal.tenant_id}", principal.rate_limits.per_tenant_per_minute),
            ]
        )
        if not decision.allowed:
            raise RateLimited("rate limit exceeded", retry_after_seconds=decision.retry_after_seconds)
    return principal


async def limit_public(
    connection: ASGIConnection[Any, Any, Any, Any], bucket: str, per_minute: int | None = None
) -> None:
    """Per-client-IP budget for unauthenticated endpoints (webhooks, web chat sessions); `per_minute`
    overrides the shared public limit for buckets with their own setting."""
    container = _container(connection)
    settings = await container.get(Settings)
    limit = settings.http.public_rate_limit_per_minute if per_minute is None else per_minute
    await charge_client(
        await container.get(RateLimiter), connection.scope, bucket, limit, settings.http.trust_forwarded_for
    )


async def charge_client(
    limiter: RateLimiter, scope: Scope, bucket: str, per_minute: int, trust_forwarded_for: bool
) -> None:
    """One request against the client IP's budget in `bucket`; RateLimited when it is spent."""
    ip = client_ip(scope, trust_forwarded_for)
    decision = await limiter.hit([RateRule(f"ip:{bucket}:{ip}", per_minute)])
    if not decision.allowed:
        raise RateLimited("too many requests from this address", retry_after_seconds=decision.retry_after_seconds)


# Handlers declare `actor: Actor` to be authenticated (and rate limited) before they run.
Actor = NamedDependency[Principal]
