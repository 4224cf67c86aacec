from __future__ import annotations

import asyncio
import ipaddress
import socket
from datetime import timedelta

import pytest

from adapters.httpx.address_policy import WebhookAddressPolicy, is_public
from adapters.httpx.webhook_sender import HttpxWebhookSender
from application.errors import InvalidInput
from application.ports.webhooks import WebhookRequest
from domain.webhooks.delivery import FailureKind
from tests.support.webhook_receiver import webhook_receiver


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
    ],
)
def test_only_global_unicast_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "https://10.0.0.5/hook",
        "http://[::1]:9000/hook",
        "http://169.254.169.254/latest/meta-data",
    ],
)
async def test_registration_refuses_internal_hosts_unless_allowed(url: str) -> None:
    with pytest.raises(InvalidInput):
        await WebhookAddressPolicy(allow_private=False).check(url)
    await WebhookAddressPolicy(allow_private=True).check(url)


async def test_the_connection_itself_is_refused_for_an_internal_address() -> None:
    async with webhook_receiver() as receiver:
        sender = HttpxWebhookSender(WebhookAddressPolicy(allow_private=False), timeout_seconds=2)
        try:
            result = await sender.send(WebhookRequest(url=receiver.url(), headers={}, body=b"{}"))
        finally:
            await sender.aclose()
    assert result.failure is FailureKind.BLOCKED_ADDRESS
    assert not result.retryable
    assert receiver.requests == []


async def test_posts_the_body_and_headers_and_reads_the_answer() -> None:
    async with webhook_receiver() as receiver:
        receiver.scripts["/busy"] = [503]
        receiver.retry_after = "7"
        sender = HttpxWebhookSender(WebhookAddressPolicy(allow_private=True), timeout_seconds=2)
        try:
            delivered = await sender.send(
                WebhookRequest(url=receiver.url(), headers={"X-Custom": "yes"}, body=b'{"a":1}')
            )
            busy = await sender.send(WebhookRequest(url=receiver.url("/busy"), headers={}, body=b"{}"))
        finally:
            await sender.aclose()
    assert (delivered.status_code, delivered.succeeded, delivered.response_excerpt) == (200, True, "ok")
    [request, _] = receiver.requests
    assert request.body == b'{"a":1}'
    assert request.headers["x-custom"] == "yes"
    assert (busy.status_code, busy.retryable, busy.retry_after) == (503, True, timedelta(seconds=7))


async def test_a_nul_in_the_answer_is_left_out_of_the_excerpt() -> None:
    async with webhook_receiver() as receiver:
        receiver.answer = b"accepted\x00\x00 thanks"
        sender = HttpxWebhookSender(WebhookAddressPolicy(allow_private=True), timeout_seconds=2)
        try:
            delivered = await sender.send(WebhookRequest(url=receiver.url(), headers={}, body=b"{}"))
        finally:
            await sender.aclose()
    assert delivered.response_excerpt == "accepted thanks"


async def test_refused_connections_and_silent_receivers_are_retryable_failures() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]

    async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    silent = await asyncio.start_server(never_answers, "127.0.0.1", 0)
    silent_port = silent.sockets[0].getsockname()[1]
    sender = HttpxWebhookSender(WebhookAddressPolicy(allow_private=True), timeout_seconds=0.3)
    try:
        refused = await sender.send(WebhookRequest(url=f"http://127.0.0.1:{closed_port}/", headers={}, body=b"{}"))
        timed_out = await sender.send(WebhookRequest(url=f"http://127.0.0.1:{silent_port}/", headers={}, body=b"{}"))
    finally:
        await sender.aclose()
        silent.close()
    assert (refused.failure, refused.retryable) == (FailureKind.CONNECTION, True)
    assert (timed_out.failure, timed_out.retryable) == (FailureKind.TIMEOUT, True)
    assert timed_out.duration_ms < 2000
