"""Meta's event POSTs are served ahead of Litestar's handlers (entrypoints.http.webhook_intake): what the
Litestar route gave them still holds, request log, correlation id, error bodies, body limit, per-IP budget."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import attrs
import httpx
import pytest
from litestar import Litestar

from entrypoints.settings import MetaSettings, Settings
from tests.support.api import Client
from tests.support.meta import meta_json, signature, wa_message, wa_value, wa_webhook

APP_SECRET = "platform-app-secret"
WEBHOOK_BUDGET_PER_MINUTE = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return attrs.evolve(
        settings,
        meta=MetaSettings(app_secret=APP_SECRET, verify_token="token"),
        http=attrs.evolve(
            settings.http, max_webhook_body_bytes=4096, webhook_rate_limit_per_minute=WEBHOOK_BUDGET_PER_MINUTE
        ),
    )


def signed(payload: Any) -> tuple[bytes, dict[str, str]]:
    body = meta_json(payload)
    return body, {"X-Hub-Signature-256": signature(body, APP_SECRET), "Content-Type": "application/json"}


def from_address(app: Litestar) -> httpx.AsyncClient:
    """A client with an address of its own: per-IP budgets live in the shared Redis (the `client` fixture,
    asked for by the tests, starts the app)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(f"2001:db8::{uuid.uuid4().hex[:4]}", 50000)),
        base_url="http://testserver",
    )


async def api_log_rows(db: asyncpg.Connection, correlation_id: str) -> list[asyncpg.Record]:
    for _ in range(40):
        rows = await db.fetch("SELECT * FROM api_logs WHERE correlation_id = $1", correlation_id)
        if rows:
            return list(rows)
        await asyncio.sleep(0.1)
    return []


async def test_every_post_is_in_the_request_log_under_its_route_and_correlation_id(
    client: Client, app: Litestar, db: asyncpg.Connection
) -> None:
    body, headers = signed(wa_webhook(wa_value(messages=[wa_message("text", {"body": "hi"})])))
    async with from_address(app) as meta:
        accepted = await meta.post("/webhooks/whatsapp", content=body, headers={**headers, "X-Correlation-Id": "c-ack"})
        refused = await meta.post(f"/webhooks/messenger/{uuid.uuid4()}", content=b"{}")
    assert accepted.status_code == 200
    assert accepted.headers["x-correlation-id"] == "c-ack"
    assert refused.status_code == 404
    refused_id = refused.headers["x-correlation-id"]
    assert len(refused_id) == 32
    (ack_row,) = await api_log_rows(db, "c-ack")
    assert (ack_row["method"], ack_row["route"], ack_row["status"]) == ("POST", "/webhooks/{kind}", 200)
    assert ack_row["latency_ms"] > 0
    (refused_row,) = await api_log_rows(db, refused_id)
    assert (refused_row["route"], refused_row["status"]) == ("/webhooks/{kind}/{channel_id}", 404)


@pytest.mark.parametrize(
    "path",
    ["/webhooks/webchat", "/webhooks/whatsapp/not-a-uuid", f"/webhooks/whatsapp/{uuid.uuid4()}/more", "/webhooks/"],
)
async def test_a_post_to_no_meta_endpoint_is_404_with_the_error_body(client: Client, app: Litestar, path: str) -> None:
    body, headers = signed(wa_webhook(wa_value(messages=[wa_message("text", {"body": "hi"})])))
    async with from_address(app) as meta:
        response = await meta.post(path, content=body, headers=headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


async def test_a_streamed_body_over_the_limit_is_413_without_a_declared_length(
    client: Client, app: Litestar, db: asyncpg.Connection
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1024

    async with from_address(app) as meta:
        response = await meta.post("/webhooks/whatsapp", content=chunks(), headers={"X-Hub-Signature-256": "sha256=0"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert await db.fetchval("SELECT count(*) FROM inbox") == 0


async def test_each_address_has_its_webhook_budget_and_is_told_when_to_retry(client: Client, app: Litestar) -> None:
    body, headers = signed(wa_webhook(wa_value(messages=[wa_message("text", {"body": "hi"})])))
    async with from_address(app) as busy, from_address(app) as other:
        statuses = [
            (await busy.post("/webhooks/whatsapp", content=body, headers=headers)).status_code for _ in range(4)
        ]
        refused = await busy.post("/webhooks/whatsapp", content=body, headers=headers)
        elsewhere = await other.post("/webhooks/whatsapp", content=body, headers=headers)
    assert statuses == [200] * WEBHOOK_BUDGET_PER_MINUTE + [429]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) > 0
    assert elsewhere.status_code == 200


async def test_a_client_gone_before_its_body_arrived_gets_no_answer_and_stores_nothing(
    client: Client, app: Litestar, db: asyncpg.Connection
) -> None:
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhooks/whatsapp",
        "raw_path": b"/webhooks/whatsapp",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-length", b"100"), (b"x-hub-signature-256", b"sha256=0")],
        "client": (f"2001:db8::{uuid.uuid4().hex[:4]}", 50001),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    assert sent == []
    assert await db.fetchval("SELECT count(*) FROM inbox") == 0
