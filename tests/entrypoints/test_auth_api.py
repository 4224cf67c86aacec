from __future__ import annotations

import hashlib
import hmac
import time

from tests.conftest import ADMIN_KEY
from tests.support.api import Client, as_key, create_tenant, create_tenant_key


async def test_requests_without_a_valid_key_get_401(client: Client) -> None:
    client.headers.pop("Authorization")
    tenant_route = "/api/tenants"
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic Zm9vOmJhcg=="},
        {"X-API-Key": "mck_admin_000000000000_forged"},
        {"X-API-Key": "mck_00000000000000000000000000000000_000000000000_forged"},
    ):
        response = await client.get(tenant_route, headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "unauthorized"


async def test_every_operation_documented_as_needing_a_key_refuses_a_call_without_one(client: Client) -> None:
    # Which operations are public is the document's to say (checked in test_openapi.py).
    schema = (await client.get("/api/docs/openapi.json")).json()
    client.headers.pop("Authorization")
    checked = 0
    for path, operations in schema["paths"].items():
        concrete = path.replace("{tenant_id}", "00000000-0000-0000-0000-000000000001")
        for placeholder in (
            "{channel_id}",
            "{key_id}",
            "{webhook_id}",
            "{delivery_id}",
            "{document_id}",
            "{conversation_id}",
            "{tool_id}",
        ):
            concrete = concrete.replace(placeholder, "00000000-0000-0000-0000-000000000002")
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete") or operation.get("security") == []:
                continue
            response = await client.request(method.upper(), concrete, json={})
            assert response.status_code == 401, (method, path, response.status_code)
            checked += 1
    assert checked >= 40


async def test_x_api_key_header_is_accepted(client: Client) -> None:
    tenant = await create_tenant(client)
    key = await create_tenant_key(client, tenant["id"])
    client.headers.pop("Authorization")
    response = await client.get(f"/api/tenants/{tenant['id']}", headers={"X-API-Key": key})
    assert response.status_code == 200


async def test_scopes_are_checked_on_every_route(client: Client) -> None:
    tenant = await create_tenant(client)
    read_only = as_key(await create_tenant_key(client, tenant["id"], scopes=["read"]))
    client.headers.pop("Authorization")
    assert (await client.get(f"/api/tenants/{tenant['id']}/channels", headers=read_only)).status_code == 200
    write = await client.post(
        f"/api/tenants/{tenant['id']}/channels",
        json={"kind": "webchat", "name": "site"},
        headers=read_only,
    )
    assert write.status_code == 403
    assert write.json()["error"]["details"] == {"required_scope": "write"}
    escalate = await client.post(
        f"/api/tenants/{tenant['id']}/api-keys", json={"name": "x", "scopes": ["admin"]}, headers=read_only
    )
    assert escalate.status_code == 403


async def test_a_key_cannot_grant_scopes_it_lacks(client: Client) -> None:
    tenant = await create_tenant(client)
    writer = as_key(await create_tenant_key(client, tenant["id"], scopes=["read", "write"]))
    client.headers.pop("Authorization")
    response = await client.post(
        f"/api/tenants/{tenant['id']}/api-keys", json={"name": "x", "scopes": ["send"]}, headers=writer
    )
    assert response.status_code == 422


async def test_revoked_key_stops_working_and_listing_shows_last_use(client: Client) -> None:
    tenant = await create_tenant(client)
    issued = (await client.post(f"/api/tenants/{tenant['id']}/api-keys", json={"name": "ci"})).json()
    key = as_key(issued["api_key"])
    assert issued["key"]["last_used_at"] is None
    assert (await client.get(f"/api/tenants/{tenant['id']}", headers=key)).status_code == 200

    listed = (await client.get(f"/api/tenants/{tenant['id']}/api-keys")).json()
    assert listed[0]["last_used_at"] is not None
    assert "api_key" not in listed[0]
    assert "secret_hash" not in listed[0]
    assert issued["api_key"] not in str(listed)

    assert (await client.delete(f"/api/tenants/{tenant['id']}/api-keys/{issued['key']['id']}")).status_code == 204
    assert (await client.get(f"/api/tenants/{tenant['id']}", headers=key)).status_code == 401


async def test_rotation_keeps_the_old_key_during_the_overlap(client: Client) -> None:
    tenant = await create_tenant(client)
    issued = (await client.post(f"/api/tenants/{tenant['id']}/api-keys", json={"name": "ci"})).json()
    base = f"/api/tenants/{tenant['id']}/api-keys/{issued['key']['id']}/rotate"

    with_overlap = (await client.post(base, json={"overlap_seconds": 600})).json()
    assert with_overlap["api_key"] != issued["api_key"]
    for key in (issued["api_key"], with_overlap["api_key"]):
        assert (await client.get(f"/api/tenants/{tenant['id']}", headers=as_key(key))).status_code == 200

    rotated_again = await client.post(
        f"/api/tenants/{tenant['id']}/api-keys/{with_overlap['key']['id']}/rotate", json={"overlap_seconds": 0}
    )
    assert rotated_again.status_code == 201
    old = await client.get(f"/api/tenants/{tenant['id']}", headers=as_key(with_overlap["api_key"]))
    assert old.status_code == 401
    new = await client.get(f"/api/tenants/{tenant['id']}", headers=as_key(rotated_again.json()["api_key"]))
    assert new.status_code == 200


async def test_expiry_in_the_past_is_refused(client: Client) -> None:
    tenant = await create_tenant(client)
    response = await client.post(
        f"/api/tenants/{tenant['id']}/api-keys", json={"name": "old", "expires_at": "2020-01-01T00:00:00Z"}
    )
    assert response.status_code == 422


def _sign(secret: str, method: str, path: str, body: bytes, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.{method}.{path}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


async def test_signed_keys_need_a_fresh_unreplayed_signature(client: Client) -> None:
    tenant = await create_tenant(client)
    issued = (
        await client.post(f"/api/tenants/{tenant['id']}/api-keys", json={"name": "signed", "require_signature": True})
    ).json()
    secret = issued["signing_secret"]
    assert secret
    assert issued["key"]["requires_signature"]
    key = as_key(issued["api_key"])
    client.headers.pop("Authorization")
    path = f"/api/tenants/{tenant['id']}/channels"
    body = b'{"kind":"webchat","name":"Site"}'

    unsigned = await client.post(path, content=body, headers=key)
    assert unsigned.status_code == 401

    signature = _sign(secret, "POST", path, body)
    signed = await client.post(path, content=body, headers={**key, "X-Signature": signature})
    assert signed.status_code == 201, signed.text

    replayed = await client.post(path, content=body, headers={**key, "X-Signature": signature})
    assert replayed.status_code == 401
    assert "replay" in replayed.json()["error"]["message"]

    stale = _sign(secret, "POST", path, body, timestamp=int(time.time()) - 3600)
    assert (await client.post(path, content=body, headers={**key, "X-Signature": stale})).status_code == 401
    tampered = _sign(secret, "POST", path, b'{"kind":"webchat","name":"Other"}')
    assert (await client.post(path, content=body, headers={**key, "X-Signature": tampered})).status_code == 401


async def test_rate_limit_per_key_answers_429_with_retry_after(client: Client) -> None:
    tenant = await create_tenant(client, rate_limits={"per_key_per_minute": 3})
    key = as_key(await create_tenant_key(client, tenant["id"]))
    client.headers.pop("Authorization")
    statuses = [(await client.get(f"/api/tenants/{tenant['id']}", headers=key)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = await client.get(f"/api/tenants/{tenant['id']}", headers=key)
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["error"]["code"] == "rate_limited"
    # A second key of the same tenant has its own budget.
    client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
    second = as_key(await create_tenant_key(client, tenant["id"]))
    assert (await client.get(f"/api/tenants/{tenant['id']}", headers=second)).status_code == 200
