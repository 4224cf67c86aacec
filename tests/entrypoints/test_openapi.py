"""The OpenAPI document says what the API does: which operations need a key, which errors each answers
with and in which body, what bodies it takes (unknown fields refused), including those read raw."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.api import Client, create_tenant

PUBLIC_OPERATIONS = {
    ("get", "/api/health"),
    ("post", "/api/webchat/sessions"),
    ("get", "/webhooks/{kind}"),
    ("post", "/webhooks/{kind}"),
    ("get", "/webhooks/{kind}/{channel_id}"),
    ("post", "/webhooks/{kind}/{channel_id}"),
}
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
async def document(client: Client) -> dict[str, Any]:
    response = await client.get("/api/docs/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = document["components"]["schemas"][ref.removeprefix("#/components/schemas/")]
    return resolved


def assert_is_documented_error(document: dict[str, Any], method: str, path: str, response: httpx.Response) -> None:
    """The status is one the operation lists, and the body has the documented error shape."""
    documented = document["paths"][path][method]["responses"]
    assert str(response.status_code) in documented, (method, path, response.status_code, sorted(documented))
    schema = resolve(document, documented[str(response.status_code)]["content"]["application/json"]["schema"])
    body = response.json()
    assert set(body) == set(schema["required"]) == {"error"}
    error_schema = schema["properties"]["error"]
    assert set(body["error"]) == set(error_schema["required"]) == {"code", "message", "details"}
    assert isinstance(body["error"]["code"], str)
    assert isinstance(body["error"]["message"], str)
    assert isinstance(body["error"]["details"], dict)


async def test_public_operations_say_so_and_the_others_list_the_key_errors(document: dict[str, Any]) -> None:
    assert document["security"] == [{"bearer": []}, {"apiKey": []}]
    public = set()
    for method, path, operation in operations(document):
        if operation.get("security") == []:
            public.add((method, path))
            continue
        assert "security" not in operation, (method, path)
        assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)
    assert public == PUBLIC_OPERATIONS


async def test_every_error_response_has_the_error_body_and_no_litestar_default(document: dict[str, Any]) -> None:
    error_ref = {"$ref": "#/components/schemas/Error"}
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                assert response["content"]["application/json"]["schema"] == error_ref, (method, path, status)
        if any(parameter["in"] == "path" for parameter in operation.get("parameters", [])):
            assert "404" in operation["responses"], (method, path)
    assert "Error" in document["components"]["schemas"]
    # Litestar's own error body ({status_code, detail, extra}) is nowhere left.
    assert "status_code" not in json.dumps(document["paths"])


async def test_every_reference_resolves(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    names = {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}
    assert names, "the document refers to no component at all"
    assert names <= set(document["components"]["schemas"]), names - set(document["components"]["schemas"])


async def test_json_request_bodies_refuse_unknown_fields_as_the_document_says(
    client: Client, document: dict[str, Any]
) -> None:
    bodies = 0
    for method, path, operation in operations(document):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" not in content or "$ref" not in content["application/json"]["schema"]:
            continue
        bodies += 1
        assert resolve(document, content["application/json"]["schema"])["additionalProperties"] is False, (method, path)
    assert bodies > 10
    response = await client.post("/api/tenants", json={"name": "Acme", "colour": "blue"})
    assert response.status_code == 422
    assert_is_documented_error(document, "post", "/api/tenants", response)


async def test_the_errors_the_api_sends_are_the_documented_ones(client: Client, document: dict[str, Any]) -> None:
    tenant = await create_tenant(client)
    tenant_path = "/api/tenants/{tenant_id}"
    missing = await client.get("/api/tenants/00000000-0000-0000-0000-00000000abcd")
    assert missing.status_code == 404
    assert_is_documented_error(document, "get", tenant_path, missing)

    malformed = await client.put(
        f"/api/tenants/{tenant['id']}", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    assert_is_documented_error(document, "put", tenant_path, malformed)

    tool = {
        "name": "order_status",
        "description": "Look up an order",
        "parameters": {"type": "object", "properties": {}},
        "url": "https://tools.example.com/orders",
        "secret": "s" * 32,
    }
    tools_path = "/api/tenants/{tenant_id}/tools"
    assert (await client.post(f"/api/tenants/{tenant['id']}/tools", json=tool)).status_code == 201
    taken = await client.post(f"/api/tenants/{tenant['id']}/tools", json=tool)
    assert taken.status_code == 409
    assert_is_documented_error(document, "post", tools_path, taken)

    bad_query = await client.get(f"/api/tenants/{tenant['id']}/conversations", params={"limit": "0"})
    assert bad_query.status_code == 422
    assert_is_documented_error(document, "get", "/api/tenants/{tenant_id}/conversations", bad_query)

    client.headers.pop("Authorization")
    no_key = await client.get(f"/api/tenants/{tenant['id']}")
    assert no_key.status_code == 401
    assert_is_documented_error(document, "get", tenant_path, no_key)

    unsigned = await client.post("/webhooks/whatsapp", json={"object": "whatsapp_business_account", "entry": []})
    assert unsigned.status_code == 401
    assert_is_documented_error(document, "post", "/webhooks/{kind}", unsigned)
    wrong = await client.post(
        "/webhooks/whatsapp", content=b"{}", headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}
    )
    assert wrong.status_code in (401, 403)
    assert_is_documented_error(document, "post", "/webhooks/{kind}", wrong)


async def test_bodies_read_raw_are_documented(document: dict[str, Any]) -> None:
    receive = document["paths"]["/webhooks/{kind}"]["post"]
    assert "application/json" in receive["requestBody"]["content"]
    signature = [parameter for parameter in receive["parameters"] if parameter["in"] == "header"]
    assert [parameter["name"] for parameter in signature] == ["X-Hub-Signature-256"]
    ack = resolve(document, receive["responses"]["200"]["content"]["application/json"]["schema"])
    assert set(ack["required"]) == {"accepted", "duplicates", "unrouted"}
    assert {"400", "401", "403", "413", "429"} <= set(receive["responses"])

    handshake = document["paths"]["/webhooks/{kind}"]["get"]
    assert {"hub.mode", "hub.verify_token", "hub.challenge"} <= {p["name"] for p in handshake["parameters"]}
    assert {"403", "404", "422"} <= set(handshake["responses"])

    upload = document["paths"]["/api/tenants/{tenant_id}/documents"]["post"]
    content = upload["requestBody"]["content"]
    assert content["multipart/form-data"]["schema"]["required"] == ["files"]
    assert resolve(document, content["application/json"]["schema"])["required"] == ["url"]
    assert {"409", "411", "413", "415", "422"} <= set(upload["responses"])


async def test_channel_config_and_secrets_are_documented_per_kind(document: dict[str, Any]) -> None:
    body = document["components"]["schemas"]["CreateChannelBody"]["properties"]
    configs = [resolve(document, option) for option in body["config"]["anyOf"]]
    assert [config["title"] for config in configs] == ["WhatsAppConfig", "MessengerConfig", "WebChatConfig"]
    assert configs[0]["required"] == ["phone_number_id"]
    assert "send_rate_per_second" in configs[0]["properties"]
    assert configs[1]["required"] == ["page_id"]
    assert "allowed_origins" in configs[2]["properties"]
    secrets = {option["title"]: set(option["properties"]) for option in body["secrets"]["anyOf"]}
    assert secrets == {
        "whatsapp secrets": {"access_token", "app_secret", "verify_token"},
        "messenger secrets": {"page_access_token", "app_secret", "verify_token"},
        "webchat secrets": set(),
    }


async def test_a_body_that_may_be_left_out_is_not_required(document: dict[str, Any]) -> None:
    handoff = document["paths"]["/api/tenants/{tenant_id}/conversations/{conversation_id}/handoff"]["post"]
    assert handoff["requestBody"]["required"] is False
    assert document["paths"]["/api/tenants"]["post"]["requestBody"]["required"] is True


async def test_health_documents_its_unavailable_answer(document: dict[str, Any]) -> None:
    responses = document["paths"]["/api/health"]["get"]["responses"]
    assert responses["503"]["content"] == responses["200"]["content"]
