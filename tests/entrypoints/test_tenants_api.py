from __future__ import annotations

import uuid

from tests.support.api import Client, as_key, create_channel, create_tenant, create_tenant_key

WHATSAPP = {
    "kind": "whatsapp",
    "name": "Support line",
    "config": {"phone_number_id": "106540352242922"},
    "secrets": {"access_token": "EAAGsecretTokenValue1234567890", "app_secret": "app-secret-value"},
}


async def test_tenant_crud_round_trip(client: Client) -> None:
    tenant = await create_tenant(client, "Acme", brand_name="Acme Co", rag={"top_k": 3})
    assert tenant["settings"]["brand_name"] == "Acme Co"
    assert tenant["settings"]["rag"]["top_k"] == 3
    assert tenant["settings"]["rag"]["vector_weight"] == 0.7

    fetched = (await client.get(f"/api/tenants/{tenant['id']}")).json()
    assert fetched == tenant

    patched = await client.patch(f"/api/tenants/{tenant['id']}", json={"settings": {"rag": {"fusion": "rrf"}}})
    assert patched.status_code == 200
    assert patched.json()["settings"]["rag"] == {**tenant["settings"]["rag"], "fusion": "rrf"}
    assert patched.json()["name"] == "Acme"

    replaced = await client.put(f"/api/tenants/{tenant['id']}", json={"name": "Acme Ltd"})
    assert replaced.status_code == 200
    # PUT replaces: settings not given fall back to their defaults.
    assert replaced.json()["settings"]["rag"]["top_k"] == 5
    assert replaced.json()["name"] == "Acme Ltd"

    listed = (await client.get("/api/tenants")).json()
    assert [item["id"] for item in listed["items"]] == [tenant["id"]]

    assert (await client.delete(f"/api/tenants/{tenant['id']}")).status_code == 204
    assert (await client.get(f"/api/tenants/{tenant['id']}")).status_code == 404


async def test_tenant_list_paginates_with_a_cursor(client: Client) -> None:
    ids = [(await create_tenant(client, f"Tenant {index}"))["id"] for index in range(5)]
    first = (await client.get("/api/tenants", params={"limit": 2})).json()
    second = (await client.get("/api/tenants", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    third = (await client.get("/api/tenants", params={"limit": 2, "cursor": second["next_cursor"]})).json()
    seen = [item["id"] for page in (first, second, third) for item in page["items"]]
    assert seen == ids
    assert third["next_cursor"] is None
    bad = await client.get("/api/tenants", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422


async def test_channel_crud_keeps_secrets_write_only(client: Client) -> None:
    tenant = await create_tenant(client)
    channel = await create_channel(client, tenant["id"], **WHATSAPP)
    assert channel["secrets"] == {"access_token": "********", "app_secret": "********"}
    assert "EAAG" not in str(channel)
    base = f"/api/tenants/{tenant['id']}/channels"

    listed = (await client.get(base)).json()
    assert [item["id"] for item in listed] == [channel["id"]]

    replaced = await client.put(
        f"{base}/{channel['id']}",
        json={
            "name": "Renamed",
            "config": {"phone_number_id": "106540352242922"},
            "secrets": {"app_secret": ""},
        },
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"] == "Renamed"
    # Omitted secrets are kept, an empty one is removed.
    assert replaced.json()["secrets"] == {"access_token": "********"}

    assert (await client.delete(f"{base}/{channel['id']}")).status_code == 204
    assert (await client.get(f"{base}/{channel['id']}")).status_code == 404


async def test_a_phone_number_id_belongs_to_one_channel_platform_wide(client: Client) -> None:
    first = await create_tenant(client, "First")
    second = await create_tenant(client, "Second")
    await create_channel(client, first["id"], **WHATSAPP)
    duplicate = await client.post(f"/api/tenants/{second['id']}/channels", json=WHATSAPP)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "conflict"
    assert (await client.get(f"/api/tenants/{second['id']}/channels")).json() == []


async def test_channel_invariants_are_enforced(client: Client) -> None:
    tenant = await create_tenant(client)
    base = f"/api/tenants/{tenant['id']}/channels"
    missing_number = await client.post(base, json={"kind": "whatsapp", "name": "x", "config": {}})
    assert missing_number.status_code == 422
    unknown_secret = await client.post(
        base, json={**WHATSAPP, "secrets": {"acess_token": "typo"}, "config": {"phone_number_id": "99999"}}
    )
    assert unknown_secret.status_code == 422
    assert unknown_secret.json()["error"]["details"] == {"unknown": ["acess_token"]}
    bad_kind = await client.post(base, json={**WHATSAPP, "kind": "telegram"})
    assert bad_kind.status_code == 422
    assert (await client.get(base)).json() == []


async def test_webchat_widget_id_survives_reconfiguration(client: Client) -> None:
    tenant = await create_tenant(client)
    channel = await create_channel(
        client, tenant["id"], kind="webchat", name="Site", config={"allowed_origins": ["https://acme.test"]}
    )
    widget_id = channel["config"]["widget_id"]
    replaced = await client.put(
        f"/api/tenants/{tenant['id']}/channels/{channel['id']}",
        json={"name": "Site", "config": {"allowed_origins": ["https://acme.test"], "brand_color": "#ff0000"}},
    )
    assert replaced.json()["config"]["widget_id"] == widget_id
    assert replaced.json()["config"]["brand_color"] == "#ff0000"


async def test_unknown_ids_answer_404(client: Client) -> None:
    tenant = await create_tenant(client)
    missing = uuid.uuid4()
    assert (await client.get(f"/api/tenants/{missing}")).status_code == 404
    assert (await client.get(f"/api/tenants/{tenant['id']}/channels/{missing}")).status_code == 404
    assert (await client.get(f"/api/tenants/{missing}/channels")).status_code == 404
    not_a_uuid = await client.get("/api/tenants/not-a-uuid")
    assert not_a_uuid.status_code in (400, 404)
    assert "error" in not_a_uuid.json()


async def test_tenant_key_is_confined_to_its_tenant(client: Client) -> None:
    mine = await create_tenant(client, "Mine")
    theirs = await create_tenant(client, "Theirs")
    their_channel = await create_channel(client, theirs["id"], **WHATSAPP)
    key = as_key(await create_tenant_key(client, mine["id"]))
    client.headers.pop("Authorization")

    # Another tenant's routes: 403.
    assert (await client.get(f"/api/tenants/{theirs['id']}", headers=key)).status_code == 403
    assert (await client.get(f"/api/tenants/{theirs['id']}/channels", headers=key)).status_code == 403
    forbidden_write = await client.post(f"/api/tenants/{theirs['id']}/channels", json=WHATSAPP, headers=key)
    assert forbidden_write.status_code == 403
    assert (
        await client.delete(f"/api/tenants/{theirs['id']}/channels/{their_channel['id']}", headers=key)
    ).status_code == 403
    # Another tenant's resource id under my own tenant: 404, exactly like a missing id.
    under_mine = await client.get(f"/api/tenants/{mine['id']}/channels/{their_channel['id']}", headers=key)
    assert under_mine.status_code == 404
    assert (
        under_mine.json()
        == (await client.get(f"/api/tenants/{mine['id']}/channels/{uuid.uuid4()}", headers=key)).json()
    )
    # Listing tenants shows only mine; creating tenants needs an admin key.
    listed = (await client.get("/api/tenants", headers=key)).json()
    assert [item["id"] for item in listed["items"]] == [mine["id"]]
    assert (await client.post("/api/tenants", json={"name": "x"}, headers=key)).status_code == 403
