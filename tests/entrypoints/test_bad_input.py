"""Bad input gets a clear JSON error and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Client, create_tenant


async def _snapshot(client: Client, tenant_id: str) -> tuple[Any, Any, Any]:
    tenants = (await client.get("/api/tenants")).json()
    tenant = (await client.get(f"/api/tenants/{tenant_id}")).json()
    channels = (await client.get(f"/api/tenants/{tenant_id}/channels")).json()
    return tenants, tenant, channels


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/api/tenants", b'{"name": "x",', 400, "malformed_request"),
        ("POST", "/api/tenants", b"not json at all", 400, "malformed_request"),
        ("POST", "/api/tenants", b'{"name": 42}', 422, "validation_failed"),
        ("POST", "/api/tenants", b'{"name": "x", "plan": "gold"}', 422, "validation_failed"),
        ("POST", "/api/tenants", b'{"name": ""}', 422, "validation_failed"),
        ("POST", "/api/tenants", b'{"name": "x", "settings": {"rag": {"top_k": 0}}}', 422, "validation_failed"),
        ("POST", "/api/tenants", b'{"name": "x", "settings": {"locale": "english!"}}', 422, "invariant_violation"),
        ("PATCH", "/api/tenants/{tenant}", b'{"settings": {"rag": {"fusion": "magic"}}}', 422, "validation_failed"),
        ("PATCH", "/api/tenants/{tenant}", b'{"settings": {"rag": {"chunk_overlap_tokens": 900}}}', 422, None),
        ("PUT", "/api/tenants/{tenant}", b'{"settings": {}}', 422, "validation_failed"),
        ("POST", "/api/tenants/{tenant}/channels", b'{"kind": "whatsapp", "name": "x", "config": []}', 422, None),
        (
            "POST",
            "/api/tenants/{tenant}/channels",
            b'{"kind": "messenger", "name": "x", "config": {"page_id": "12345678", "colour": "red"}}',
            422,
            "invariant_violation",
        ),
        ("POST", "/api/tenants/{tenant}/api-keys", b'{"name": "k", "scopes": ["root"]}', 422, "validation_failed"),
        ("POST", "/api/tenants/{tenant}/api-keys", b'{"name": "k", "scopes": []}', 422, "validation_failed"),
        # Config values of the wrong type used to be stored as sent (an object as the widget's avatar URL).
        (
            "POST",
            "/api/tenants/{tenant}/channels",
            b'{"kind": "webchat", "name": "x", "config": {"avatar_url": {}}}',
            422,
            "invariant_violation",
        ),
        (
            "POST",
            "/api/tenants/{tenant}/channels",
            b'{"kind": "webchat", "name": "x", "config": {"allowed_origins": "https://a.example"}}',
            422,
            "invariant_violation",
        ),
        (
            "POST",
            "/api/tenants/{tenant}/channels",
            b'{"kind": "whatsapp", "name": "x", "config": {"phone_number_id": "123456789", "display_phone_number": 5}}',
            422,
            "invariant_violation",
        ),
        (
            "POST",
            "/api/tenants/{tenant}/channels",
            b'{"kind": "whatsapp", "name": "x", "config": {"phone_number_id": "123456789", '
            b'"send_rate_per_second": true}}',
            422,
            "invariant_violation",
        ),
        (
            "POST",
            "/api/tenants/{tenant}/channels",
            b'{"kind": "webchat", "name": "x", "config": {"widget_id": ""}}',
            422,
            None,
        ),
        # NUL characters: Postgres text cannot hold them, so they are refused before anything is written.
        ("POST", "/api/tenants", b'{"name": "Acme\\u0000"}', 422, "validation_failed"),
        ("PATCH", "/api/tenants/{tenant}", b'{"settings": {"handoff_keywords": ["a\\u0000"]}}', 422, None),
        ("POST", "/api/tenants/{tenant}/api-keys", b'{"name": "\\u0000", "scopes": ["read"]}', 422, None),
        (
            "POST",
            "/api/tenants/{tenant}/tools",
            b'{"name": "lookup", "description": "d", "url": "https://tools.example.com/x", "secret": "'
            + b"s" * 32
            + b'", "parameters": {"type": "object", "description": "free-form JSON, \\u0000 inside"}}',
            422,
            "validation_failed",
        ),
        ("POST", "/api/tenants/{tenant}/search", b'{"query": "tents\\u0000"}', 422, "validation_failed"),
    ],
)
async def test_bad_bodies_are_refused_and_change_nothing(
    client: Client, method: str, path: str, body: bytes, status: int, code: str | None
) -> None:
    tenant = await create_tenant(client)
    before = await _snapshot(client, tenant["id"])
    response = await client.request(
        method, path.format(tenant=tenant["id"]), content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    assert await _snapshot(client, tenant["id"]) == before


async def test_oversized_bodies_get_413(client: Client) -> None:
    tenant = await create_tenant(client)
    before = await _snapshot(client, tenant["id"])
    huge = b'{"name": "' + b"x" * (200 * 1024) + b'"}'
    response = await client.post("/api/tenants", content=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert await _snapshot(client, tenant["id"]) == before


async def test_unknown_routes_and_methods_get_json_errors(client: Client) -> None:
    missing = await client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong_method = await client.patch("/api/health")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_bad_query_parameters_are_refused(client: Client) -> None:
    response = await client.get("/api/tenants", params={"limit": "0"})
    assert response.status_code in (400, 422)
    assert "error" in response.json()
    response = await client.get("/api/tenants", params={"limit": "many"})
    assert response.status_code in (400, 422)


async def test_nul_characters_in_the_url_are_refused(client: Client) -> None:
    tenant = await create_tenant(client)
    search = await client.get(f"/api/tenants/{tenant['id']}/conversations", params={"q": "tent\x00s"})
    assert search.status_code == 422
    assert search.json()["error"]["details"] == {"source": "query"}
    # A static file name with a NUL in it used to reach open() and fail with a 500.
    for path in ("/dashboard/index%00.html", "/widget/v/1/loader%00.js"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
