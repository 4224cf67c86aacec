"""Small helpers for driving the HTTP API in tests."""

from __future__ import annotations

from typing import Any

import httpx

Client = httpx.AsyncClient


async def create_tenant(client: Client, name: str = "Acme", **settings: Any) -> dict[str, Any]:
    response = await client.post("/api/tenants", json={"name": name, "settings": settings})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def create_tenant_key(client: Client, tenant_id: str, scopes: list[str] | None = None) -> str:
    body: dict[str, Any] = {"name": "test key"}
    if scopes is not None:
        body["scopes"] = scopes
    response = await client.post(f"/api/tenants/{tenant_id}/api-keys", json=body)
    assert response.status_code == 201, response.text
    key: str = response.json()["api_key"]
    return key


async def create_channel(client: Client, tenant_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/api/tenants/{tenant_id}/channels", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def as_key(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
