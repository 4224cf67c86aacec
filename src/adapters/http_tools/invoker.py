"""Calling tenants' HTTP tools: a JSON POST signed like our webhooks
(X-MetaChat-Signature: t=<unix>,v1=HMAC-SHA256(secret, "<t>." + body)), a hard time limit, no redirects,
and the webhook address policy enforced on the connection itself (no SSRF into internal networks unless
the operator allows private addresses)."""

from __future__ import annotations

import asyncio
import json
import time

import httpcore
import httpx

from adapters.httpx.address_policy import BlockedAddress, WebhookAddressPolicy
from adapters.httpx.webhook_sender import _CheckedNetworkBackend
from application.ports.tool_invoker import ToolRequest, ToolResponse
from domain.common.text import without_nul
from domain.webhooks.signature import SIGNATURE_HEADER, signature_header

# The model sees at most this much of an answer; more is not even downloaded.
MAX_RESPONSE_BYTES = 64 * 1024
TOOL_HEADER = "X-MetaChat-Tool"


class HttpxToolInvoker:
    def __init__(self, policy: WebhookAddressPolicy, *, max_connections: int = 100) -> None:
        transport = httpx.AsyncHTTPTransport()
        # As in the webhook sender: the pool gets a network backend that resolves, checks and connects
        # in one step, so DNS rebinding between a check and the connect cannot reach an internal host.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections // 4,
            keepalive_expiry=30.0,
            network_backend=_CheckedNetworkBackend(policy),
        )
        self._client = httpx.AsyncClient(transport=transport, follow_redirects=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def invoke(self, request: ToolRequest) -> ToolResponse:
        body = json.dumps(request.body, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "metachat-tools",
            SIGNATURE_HEADER: signature_header([request.secret], int(time.time()), body),
            TOOL_HEADER: str(request.body.get("tool", "")),
        }
        try:
            async with asyncio.timeout(request.timeout_seconds):
                async with self._client.stream(
                    "POST", request.url, content=body, headers=headers, timeout=request.timeout_seconds
                ) as response:
                    answer = await _read_limited(response)
        except BlockedAddress as error:
            return ToolResponse(ok=False, content=f"the tool's address is not allowed ({error})")
        except (TimeoutError, httpx.TimeoutException):
            return ToolResponse(ok=False, content=f"the tool did not answer within {request.timeout_seconds:g}s")
        except (httpx.TransportError, OSError) as error:
            return ToolResponse(ok=False, content=f"the tool could not be reached ({type(error).__name__})")
        if not response.is_success:
            excerpt = answer[:500]
            return ToolResponse(
                ok=False,
                content=f"the tool answered HTTP {response.status_code}: {excerpt}",
                status=response.status_code,
            )
        return ToolResponse(ok=True, content=answer or "(empty response)", status=response.status_code)


async def _read_limited(response: httpx.Response) -> str:
    collected = b""
    async for chunk in response.aiter_raw():
        collected += chunk
        if len(collected) >= MAX_RESPONSE_BYTES:
            break
    return without_nul(collected[:MAX_RESPONSE_BYTES].decode("utf-8", errors="replace"))
