from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import attrs
import httpx
import pytest

from entrypoints.http.app import create_app
from entrypoints.ioc.containers import make_http_container
from entrypoints.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.support.api import Client, as_key, create_tenant, create_tenant_key

HOOK = {"url": "http://127.0.0.1:9/hook", "event_types": ["message.*", "conversation.handoff"]}


async def test_webhook_crud_shows_the_secret_once_and_masks_header_values(client: Client) -> None:
    tenant = await create_tenant(client)
    base = f"/api/tenants/{tenant['id']}/webhooks"
    created = await client.post(base, json={**HOOK, "headers": {"Authorization": "Bearer receiver-secret"}})
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["signing_secret"]
    assert secret.startswith("whsec_")
    webhook = body["webhook"]
    assert webhook["headers"] == {"Authorization": "********"}
    assert webhook["event_types"] == HOOK["event_types"]

    fetched = (await client.get(f"{base}/{webhook['id']}")).json()
    assert fetched == webhook
    assert secret not in str(fetched)
    assert "receiver-secret" not in (await client.get(base)).text

    replaced = await client.put(
        f"{base}/{webhook['id']}",
        json={"url": "http://127.0.0.1:9/other", "event_types": ["*"], "active": False},
    )
    assert replaced.status_code == 200, replaced.text
    # Omitted headers are kept.
    assert replaced.json()["headers"] == {"Authorization": "********"}
    assert (replaced.json()["url"], replaced.json()["active"]) == ("http://127.0.0.1:9/other", False)

    rotated = await client.post(f"{base}/{webhook['id']}/rotate-secret", json={"overlap_seconds": 600})
    assert rotated.status_code == 200
    assert rotated.json()["signing_secret"] != secret
    assert rotated.json()["webhook"]["previous_secret_expires_at"] is not None

    deliveries = await client.get(f"{base}/{webhook['id']}/deliveries", params={"status": "dead"})
    assert deliveries.json() == {"items": [], "next_cursor": None}
    unknown = await client.post(f"{base}/{webhook['id']}/deliveries/{uuid.uuid4()}/replay")
    assert unknown.status_code == 404

    assert (await client.delete(f"{base}/{webhook['id']}")).status_code == 204
    assert (await client.get(f"{base}/{webhook['id']}")).status_code == 404
    assert (await client.get(base)).json() == []


async def test_invalid_webhooks_are_refused(client: Client) -> None:
    tenant = await create_tenant(client)
    base = f"/api/tenants/{tenant['id']}/webhooks"
    cases = [
        {**HOOK, "url": "ftp://127.0.0.1/x"},
        {**HOOK, "event_types": ["Message Received"]},
        {**HOOK, "event_types": []},
        {**HOOK, "headers": {"X-MetaChat-Signature": "forged"}},
        {**HOOK, "headers": {"Content-Type": "text/plain"}},
        {**HOOK, "unknown": True},
    ]
    for case in cases:
        response = await client.post(base, json=case)
        assert response.status_code == 422, (case, response.text)
    assert (await client.get(base)).json() == []


async def test_a_tenant_key_manages_only_its_own_webhooks(client: Client) -> None:
    mine = await create_tenant(client, "Mine")
    theirs = await create_tenant(client, "Theirs")
    their_hook = (await client.post(f"/api/tenants/{theirs['id']}/webhooks", json=HOOK)).json()["webhook"]
    key = as_key(await create_tenant_key(client, mine["id"]))
    client.headers.pop("Authorization")
    assert (await client.get(f"/api/tenants/{theirs['id']}/webhooks", headers=key)).status_code == 403
    assert (await client.post(f"/api/tenants/{theirs['id']}/webhooks", json=HOOK, headers=key)).status_code == 403
    under_mine = f"/api/tenants/{mine['id']}/webhooks/{their_hook['id']}"
    assert (await client.get(under_mine, headers=key)).status_code == 404
    assert (await client.delete(under_mine, headers=key)).status_code == 404
    assert (await client.get(f"{under_mine}/deliveries", headers=key)).status_code == 404
    own = await client.post(f"/api/tenants/{mine['id']}/webhooks", json=HOOK, headers=key)
    assert own.status_code == 201
    read_only = as_key(await create_tenant_key_with(client, mine["id"], ["read"]))
    assert (await client.post(f"/api/tenants/{mine['id']}/webhooks", json=HOOK, headers=read_only)).status_code == 403


async def create_tenant_key_with(client: Client, tenant_id: str, scopes: list[str]) -> str:
    response = await client.post(
        f"/api/tenants/{tenant_id}/api-keys",
        json={"name": "scoped", "scopes": scopes},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["api_key"]
    return key


@pytest.fixture
async def strict_client(settings: Settings) -> AsyncIterator[Client]:
    """The API as deployed by default: webhook URLs on internal networks are refused (SSRF)."""
    strict = attrs.evolve(settings, allow_private_webhook_urls=False)
    container = make_http_container(strict)
    app = create_app(container, strict)
    for hook in app.on_startup:
        await hook()  # type: ignore[call-arg]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 50000)),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as test_client:
        yield test_client
    for hook in app.on_shutdown:
        await hook()  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.0.0.7/hook", "http://[::1]/hook"]
)
async def test_internal_webhook_urls_are_refused_by_default(strict_client: Client, url: str) -> None:
    tenant = await create_tenant(strict_client)
    base = f"/api/tenants/{tenant['id']}/webhooks"
    refused = await strict_client.post(base, json={**HOOK, "url": url})
    assert refused.status_code == 422
    assert refused.json()["error"]["details"] == {"field": "url"}
    assert (await strict_client.get(base)).json() == []
