"""api_logs rows, health readiness, and logs that never carry secrets or message bodies."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import asyncpg
import attrs
import httpx

from entrypoints.http.app import create_app
from entrypoints.ioc.containers import make_http_container
from entrypoints.logging import RedactingJsonFormatter, correlation_id_var, redact
from entrypoints.settings import Settings
from tests.support.api import Client, create_channel, create_tenant, create_tenant_key


async def _api_log_rows(database_url: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetch("SELECT * FROM api_logs ORDER BY created_at")
    finally:
        await connection.close()


async def test_every_request_is_recorded_in_api_logs(client: Client, database_url: str) -> None:
    tenant = await create_tenant(client)
    key = await create_tenant_key(client, tenant["id"])
    await client.get(f"/api/tenants/{tenant['id']}", headers={"Authorization": f"Bearer {key}"})
    await client.get("/api/tenants", headers={"Authorization": "Bearer wrong"})
    rows: list[asyncpg.Record] = []
    for _ in range(40):
        rows = await _api_log_rows(database_url)
        if len(rows) >= 4:
            break
        await asyncio.sleep(0.1)
    by_route = {(row["method"], row["route"], row["status"]): row for row in rows}
    tenant_read = by_route[("GET", "/api/tenants/{tenant_id}", 200)]
    assert str(tenant_read["tenant_id"]) == tenant["id"]
    assert tenant_read["api_key_id"] is not None
    assert tenant_read["latency_ms"] > 0
    unauthorized = by_route[("GET", "/api/tenants", 401)]
    assert unauthorized["api_key_id"] is None
    # No column holds bodies or keys.
    assert key not in str([dict(row) for row in rows])


async def test_health_reports_each_dependency(client: Client) -> None:
    response = await client.get("/api/health", headers={})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    names = {dependency["name"]: dependency for dependency in body["dependencies"]}
    assert set(names) >= {"database", "cache", "broker"}
    assert names["database"]["healthy"]
    assert names["cache"]["detail"] == "redis"


async def test_without_redis_the_in_process_limiter_serves_public_routes(settings: Settings) -> None:
    """Embedded mode (no REDIS_URL), as `make run` starts it: the container builds, and a public route
    that is rate limited answers."""
    embedded = attrs.evolve(settings, redis_url=None)
    container = make_http_container(embedded)
    app = create_app(container, embedded)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            health = await client.get("/api/health")
            webhook = await client.post("/webhooks/whatsapp", content=b"{}")
    finally:
        await container.close()
    cache = next(d for d in health.json()["dependencies"] if d["name"] == "cache")
    assert cache["detail"] == "in-process"
    # Past the rate limit and refused for its missing signature: the limiter was built and consulted.
    assert webhook.status_code == 401


async def test_health_is_503_when_a_required_dependency_is_down(settings: Settings) -> None:
    broken = attrs.evolve(settings, redis_url="redis://127.0.0.1:1/0")
    container = make_http_container(broken)
    app = create_app(container, broken)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            response = await client.get("/api/health")
    finally:
        await container.close()
    assert response.status_code == 503
    cache = next(d for d in response.json()["dependencies"] if d["name"] == "cache")
    assert cache["healthy"] is False
    assert response.json()["status"] == "unavailable"


async def test_secrets_never_reach_a_log_line(client: Client) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingJsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    token = "EAAGlogTestToken1234567890abcdef"
    try:
        tenant = await create_tenant(client)
        await create_channel(
            client,
            tenant["id"],
            kind="whatsapp",
            name="wa",
            config={"phone_number_id": "5550001"},
            secrets={"access_token": token, "app_secret": "shh-app-secret"},
        )
        key = await create_tenant_key(client, tenant["id"])
        await client.get(f"/api/tenants/{tenant['id']}", headers={"Authorization": f"Bearer {key}"})
        logging.getLogger("test").info("calling with %s", f"Bearer {key}", extra={"access_token": token})
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    output = stream.getvalue()
    assert output  # something was logged at DEBUG
    for secret in (token, "shh-app-secret", key, "test-admin-key"):
        assert secret not in output


def test_redaction_filter_scrubs_known_secret_shapes() -> None:
    key = "mck_0123456789abcdef0123456789abcdef_0123456789ab_SECRETsecretSECRET-_x"
    line = redact(f"key={key} Authorization: Bearer abc.def-ghi and ?access_token=EAAB123&x=1 sk-abcdefghijklmnopqrstu")
    for leaked in ("SECRETsecret", "abc.def-ghi", "EAAB123", "sk-abcdefghijklmnopqrstu"):
        assert leaked not in line
    assert "x=1" in line


def test_log_lines_are_json_with_correlation_id_and_drop_bodies() -> None:
    formatter = RedactingJsonFormatter()
    token = correlation_id_var.set("corr-123")
    try:
        record = logging.makeLogRecord(
            {"msg": "inbound message", "levelname": "INFO", "name": "x", "text": "my card is 4111", "tenant_id": "t1"}
        )
        line = json.loads(formatter.format(record))
    finally:
        correlation_id_var.reset(token)
    assert line["correlation_id"] == "corr-123"
    assert line["tenant_id"] == "t1"
    assert line["text"] == "[REDACTED]"
    assert line["msg"] == "inbound message"
