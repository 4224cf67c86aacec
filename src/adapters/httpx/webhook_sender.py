"""POST webhook deliveries with httpx: pooled connections, a hard time limit per attempt, no redirects,
and the address policy enforced on the connection itself (the name is resolved, checked and connected
to in one step, so DNS rebinding between a check and the connect cannot reach an internal host)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpcore
import httpx

from adapters.httpx.address_policy import BlockedAddress, WebhookAddressPolicy
from application.ports.webhooks import WebhookRequest
from domain.common.text import without_nul
from domain.webhooks.delivery import AttemptResult, FailureKind

EXCERPT_BYTES = 512


class _CheckedNetworkBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: WebhookAddressPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's backend interface)
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._policy.resolve(host, port)
        last_error: Exception | None = None
        for address in addresses:
            try:
                # TLS still verifies the certificate against the URL's host name (httpcore passes the
                # origin's host as server_hostname), so connecting to the checked IP is safe.
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last_error = error
        assert last_error is not None
        raise last_error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's backend interface)
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks cannot use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class HttpxWebhookSender:
    def __init__(
        self, policy: WebhookAddressPolicy, *, timeout_seconds: float = 10.0, max_connections: int = 200
    ) -> None:
        self._timeout = timeout_seconds
        transport = httpx.AsyncHTTPTransport()
        # httpx has no public hook for the network backend; its transport is a thin shell around this
        # pool, so we give it one built with the checking backend.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections // 4,
            keepalive_expiry=30.0,
            network_backend=_CheckedNetworkBackend(policy),
        )
        self._client = httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(timeout_seconds), follow_redirects=False
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, request: WebhookRequest) -> AttemptResult:
        started = time.perf_counter()

        def elapsed_ms() -> float:
            return (time.perf_counter() - started) * 1000

        try:
            async with asyncio.timeout(self._timeout):
                async with self._client.stream(
                    "POST", request.url, content=request.body, headers=request.headers
                ) as response:
                    excerpt = await _excerpt(response)
        except BlockedAddress as error:
            return AttemptResult(duration_ms=elapsed_ms(), failure=FailureKind.BLOCKED_ADDRESS, error=str(error))
        except (TimeoutError, httpx.TimeoutException):
            return AttemptResult(
                duration_ms=elapsed_ms(), failure=FailureKind.TIMEOUT, error=f"no response within {self._timeout:g}s"
            )
        except (httpx.TransportError, OSError) as error:
            return AttemptResult(
                duration_ms=elapsed_ms(), failure=FailureKind.CONNECTION, error=f"{type(error).__name__}: {error}"
            )
        return AttemptResult(
            duration_ms=elapsed_ms(),
            status_code=response.status_code,
            error=None if response.is_success else f"HTTP {response.status_code}",
            retry_after=_retry_after(response.headers.get("retry-after")),
            response_excerpt=excerpt,
        )


async def _excerpt(response: httpx.Response) -> str:
    """The start of the receiver's answer, for the delivery log; the rest is never downloaded."""
    collected = b""
    async for chunk in response.aiter_raw():
        collected += chunk
        if len(collected) >= EXCERPT_BYTES:
            break
    # Kept in the delivery log: Postgres text cannot hold a NUL.
    return without_nul(collected[:EXCERPT_BYTES].decode("utf-8", errors="replace"))


def _retry_after(value: str | None) -> timedelta | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(moment - datetime.now(UTC), timedelta(0))
