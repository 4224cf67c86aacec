"""Fetch a web page for the knowledge base with httpx: a time limit for the whole download, a size cap
enforced while reading, at most a few redirects, and every connection (redirects included) made through
the same address check as webhooks, so a tenant cannot make the platform read internal hosts."""

from __future__ import annotations

import asyncio

import httpcore
import httpx

from adapters.httpx.address_policy import BlockedAddress, WebhookAddressPolicy
from adapters.httpx.webhook_sender import _CheckedNetworkBackend
from application.errors import InvalidInput, PayloadTooLarge
from application.ports.web_pages import FetchedPage

USER_AGENT = "MetaChatPlatform/0.1 (knowledge base import)"
ACCEPT = "text/html,application/xhtml+xml,text/plain,text/markdown,application/pdf,*/*;q=0.5"


class HttpxWebPageFetcher:
    def __init__(self, policy: WebhookAddressPolicy, *, timeout_seconds: float = 20.0, max_redirects: int = 5) -> None:
        self._timeout = timeout_seconds
        transport = httpx.AsyncHTTPTransport()
        # As in the webhook sender: the pool connects through the checking backend.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=20,
            network_backend=_CheckedNetworkBackend(policy),
        )
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout_seconds),
            follow_redirects=True,
            max_redirects=max_redirects,
            headers={"User-Agent": USER_AGENT, "Accept": ACCEPT},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str, max_bytes: int) -> FetchedPage:
        try:
            async with asyncio.timeout(self._timeout), self._client.stream("GET", url) as response:
                if not response.is_success:
                    raise InvalidInput(
                        f"the page answered HTTP {response.status_code}",
                        details={"field": "url", "status": response.status_code},
                    )
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                    raise _too_large(max_bytes)
                content = bytearray()
                async for chunk in response.aiter_bytes():
                    content += chunk
                    if len(content) > max_bytes:
                        raise _too_large(max_bytes)
                content_type = response.headers.get("content-type")
                return FetchedPage(url=str(response.url), content=bytes(content), content_type=content_type)
        except BlockedAddress as error:
            raise InvalidInput(
                "the URL's host resolves to a non-public address, which is not fetched", details={"field": "url"}
            ) from error
        except (TimeoutError, httpx.TimeoutException) as error:
            raise InvalidInput(f"the page did not load within {self._timeout:g}s", details={"field": "url"}) from error
        except httpx.TooManyRedirects as error:
            raise InvalidInput("the page redirects too often", details={"field": "url"}) from error
        except (httpx.HTTPError, OSError) as error:
            raise InvalidInput(
                f"the page could not be fetched: {type(error).__name__}", details={"field": "url"}
            ) from error


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the page is larger than the {max_bytes} bytes allowed", details={"limit_bytes": max_bytes})
