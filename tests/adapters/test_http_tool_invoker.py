"""HttpxToolInvoker against a local HTTP endpoint: signed JSON POST, the endpoint's answer, and every
kind of failure as a result (never an exception)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from adapters.http_tools.invoker import HttpxToolInvoker
from adapters.httpx.address_policy import WebhookAddressPolicy
from application.ports.tool_invoker import ToolRequest
from domain.webhooks.signature import verify
from tests.fakes.local_server import CannedResponse, LocalHttpServer, RecordedRequest

SECRET = "whsec_tool-secret-for-tests"
Reply = Callable[[dict[str, Any]], Awaitable[tuple[int, bytes]]]


class ToolEndpoint(LocalHttpServer):
    def __init__(self) -> None:
        super().__init__()
        self.reply: Reply = self._ok

    @staticmethod
    async def _ok(body: dict[str, Any]) -> tuple[int, bytes]:
        return 200, json.dumps({"order": body["arguments"]["number"], "status": "shipped"}).encode()

    async def respond(self, request: RecordedRequest) -> CannedResponse:
        status, answer = await self.reply(request.json)
        return CannedResponse(status, answer, {"content-type": "application/json"})


@pytest.fixture
async def endpoint() -> AsyncIterator[ToolEndpoint]:
    async with ToolEndpoint() as tool:
        yield tool


@pytest.fixture
async def invoker() -> AsyncIterator[HttpxToolInvoker]:
    running = HttpxToolInvoker(WebhookAddressPolicy(allow_private=True))
    yield running
    await running.aclose()


def request(endpoint: ToolEndpoint, timeout: float = 2.0) -> ToolRequest:
    return ToolRequest(
        url=f"{endpoint.origin}/orders",
        secret=SECRET,
        timeout_seconds=timeout,
        body={"tool": "lookup_order", "call_id": "call_1", "arguments": {"number": "A-7"}},
    )


async def test_the_post_is_signed_and_the_answer_comes_back(endpoint: ToolEndpoint, invoker: HttpxToolInvoker) -> None:
    response = await invoker.invoke(request(endpoint))

    assert response.ok
    assert json.loads(response.content) == {"order": "A-7", "status": "shipped"}
    [received] = endpoint.requests
    headers, body = received.headers, received.body
    assert headers["content-type"] == "application/json"
    assert headers["x-metachat-tool"] == "lookup_order"
    assert verify(headers["x-metachat-signature"], SECRET, body, now=time.time())
    assert not verify(headers["x-metachat-signature"], "another-secret", body, now=time.time())


async def test_nul_characters_in_the_answer_are_dropped(endpoint: ToolEndpoint, invoker: HttpxToolInvoker) -> None:
    # The result is stored with the turn's tool calls: Postgres cannot hold a NUL, the model needs none.
    async def binary_ish(_: dict[str, Any]) -> tuple[int, bytes]:
        return 200, b"status:\x00shipped"

    endpoint.reply = binary_ish
    response = await invoker.invoke(request(endpoint))
    assert response.ok
    assert response.content == "status:shipped"


async def test_an_error_status_is_a_failed_result(endpoint: ToolEndpoint, invoker: HttpxToolInvoker) -> None:
    async def broken(_: dict[str, Any]) -> tuple[int, bytes]:
        return 500, b'{"error": "database down"}'

    endpoint.reply = broken

    response = await invoker.invoke(request(endpoint))

    assert not response.ok
    assert response.status == 500
    assert "HTTP 500" in response.content
    assert "database down" in response.content


async def test_a_slow_tool_times_out(endpoint: ToolEndpoint, invoker: HttpxToolInvoker) -> None:
    async def slow(_: dict[str, Any]) -> tuple[int, bytes]:
        await asyncio.sleep(2)
        return 200, b"{}"

    endpoint.reply = slow

    started = time.perf_counter()
    response = await invoker.invoke(request(endpoint, timeout=0.5))

    assert not response.ok
    assert "did not answer within 0.5s" in response.content
    assert time.perf_counter() - started < 1.5


async def test_an_unreachable_tool_is_a_failed_result(invoker: HttpxToolInvoker) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    response = await invoker.invoke(
        ToolRequest(url=f"http://127.0.0.1:{port}/x", secret=SECRET, timeout_seconds=1, body={"tool": "x"})
    )

    assert not response.ok
    assert "could not be reached" in response.content


async def test_private_addresses_are_refused_unless_allowed(endpoint: ToolEndpoint) -> None:
    strict = HttpxToolInvoker(WebhookAddressPolicy(allow_private=False))
    try:
        response = await strict.invoke(request(endpoint))
    finally:
        await strict.aclose()

    assert not response.ok
    assert "not allowed" in response.content
    assert endpoint.requests == []
