"""Webhook endpoints end to end over HTTP: handshake, signatures, storage in the inbox, deduplication."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import attrs
import pytest
from dishka import AsyncContainer

from application.channels.channel_registry import ChannelRegistry
from application.inbox.accept_webhook import AcceptWebhook, AcceptWebhookInput, PlatformWebhookSecrets, WebhookCounters
from application.inbox.channel_directory import ChannelDirectory
from application.inbox.inbox_writer import InboxWriter
from application.inbox.process_inbox_entry import ProcessInboxEntry, ProcessInboxEntryInput
from application.ports.channel_adapters import SignatureInvalid
from domain.channels.channel import ChannelKind
from domain.common.ids import TenantId
from entrypoints.settings import MetaSettings, Settings
from tests.support.api import Client, create_channel, create_tenant, create_tenant_key
from tests.support.meta import (
    PAGE_ID,
    PHONE_NUMBER_ID,
    fb_event,
    fb_webhook,
    meta_json,
    signature,
    wa_message,
    wa_status,
    wa_value,
    wa_webhook,
)

APP_SECRET = "platform-app-secret"
VERIFY_TOKEN = "platform-verify-token"
OWN_APP_SECRET = "tenant-own-app-secret"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return attrs.evolve(
        settings,
        meta=MetaSettings(app_secret=APP_SECRET, verify_token=VERIFY_TOKEN),
        http=attrs.evolve(settings.http, max_webhook_body_bytes=512 * 1024),
    )


async def whatsapp_channel(client: Client, **secrets: str) -> dict[str, Any]:
    tenant = await create_tenant(client)
    return await create_channel(
        client,
        tenant["id"],
        kind="whatsapp",
        name="Support",
        config={"phone_number_id": PHONE_NUMBER_ID},
        secrets={"access_token": "EAAG-test", **secrets},
    )


async def post_signed(client: Client, path: str, payload: Any, secret: str = APP_SECRET) -> Any:
    body = meta_json(payload)
    return await client.post(
        path, content=body, headers={"X-Hub-Signature-256": signature(body, secret), "Content-Type": "application/json"}
    )


async def inbox_keys(db: asyncpg.Connection) -> list[str]:
    rows = await db.fetch("SELECT provider_event_key FROM inbox ORDER BY provider_event_key")
    return [row[0] for row in rows]


async def queued_tasks(db: asyncpg.Connection) -> list[Any]:
    return list(await db.fetch("SELECT type, aggregate_key, payload FROM outbox WHERE kind = 'task' ORDER BY seq"))


# --- GET handshake -------------------------------------------------------------------------------


async def test_handshake_echoes_the_challenge_as_plain_text(client: Client) -> None:
    for kind in ("whatsapp", "messenger"):
        response = await client.get(
            f"/webhooks/{kind}",
            params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
        )
        assert response.status_code == 200
        assert response.text == "1158201444"
        assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {},
    ],
)
async def test_handshake_refuses_anything_else(client: Client, params: dict[str, str]) -> None:
    assert (await client.get("/webhooks/whatsapp", params=params)).status_code == 403


async def test_per_channel_handshake_uses_the_channel_token(client: Client) -> None:
    channel = await whatsapp_channel(client, verify_token="own-token", app_secret=OWN_APP_SECRET)
    path = f"/webhooks/whatsapp/{channel['id']}"
    ok = await client.get(
        path, params={"hub.mode": "subscribe", "hub.verify_token": "own-token", "hub.challenge": "42"}
    )
    assert (ok.status_code, ok.text) == (200, "42")
    platform = await client.get(
        path, params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"}
    )
    assert platform.status_code == 403
    assert (
        await client.get(f"/webhooks/messenger/{channel['id']}", params={"hub.mode": "subscribe"})
    ).status_code == 404
    assert (await client.get(f"/webhooks/whatsapp/{uuid.uuid4()}")).status_code == 404
    assert (await client.get("/webhooks/webchat")).status_code == 404


# --- POST ----------------------------------------------------------------------------------------


async def test_missing_or_wrong_signature_stores_nothing(client: Client, db: asyncpg.Connection) -> None:
    await whatsapp_channel(client)
    body = meta_json(wa_webhook(wa_value(messages=[wa_message("text", {"body": "hi"})])))
    missing = await client.post("/webhooks/whatsapp", content=body)
    assert missing.status_code == 401
    wrong = await client.post(
        "/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": signature(body, "other")}
    )
    assert wrong.status_code == 403
    tampered = await client.post(
        "/webhooks/whatsapp",
        content=body.replace(b"hi", b"ho"),
        headers={"X-Hub-Signature-256": signature(body, APP_SECRET)},
    )
    assert tampered.status_code == 403
    assert await inbox_keys(db) == []
    assert await queued_tasks(db) == []


async def test_malformed_json_and_wrong_object_are_400(client: Client, db: asyncpg.Connection) -> None:
    for body in (
        b"{not json",
        meta_json({"object": "page", "entry": []}),
        meta_json({"object": "whatsapp_business_account"}),
    ):
        response = await client.post(
            "/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": signature(body, APP_SECRET)}
        )
        assert response.status_code == 400, body
    assert await inbox_keys(db) == []


async def test_body_over_the_limit_is_413(client: Client) -> None:
    payload = wa_webhook(wa_value(messages=[wa_message("text", {"body": "x" * 600_000})]))
    assert (await post_signed(client, "/webhooks/whatsapp", payload)).status_code == 413


async def test_unknown_number_is_acknowledged_logged_and_counted(
    client: Client, container: AsyncContainer, db: asyncpg.Connection
) -> None:
    accept = await container.get(AcceptWebhook)
    before = accept.counters.unrouted
    payload = wa_webhook(wa_value(messages=[wa_message("text", {"body": "hi"})], phone_number_id="555000555000"))
    response = await post_signed(client, "/webhooks/whatsapp", payload)
    assert response.status_code == 200
    assert response.json()["unrouted"] == 1
    assert accept.counters.unrouted == before + 1
    assert await inbox_keys(db) == []


async def test_operators_read_the_webhook_counters_as_prometheus_metrics(client: Client) -> None:
    await whatsapp_channel(client)
    known = wa_webhook(wa_value(messages=[wa_message("text", {"body": "hi"})]))
    unknown = wa_webhook(wa_value(messages=[wa_message("text", {"body": "hi"})], phone_number_id="555000555000"))
    for payload in (known, known, unknown):
        assert (await post_signed(client, "/webhooks/whatsapp", payload)).status_code == 200
    assert (await post_signed(client, "/webhooks/whatsapp", known, secret="not-the-secret")).status_code == 403

    response = await client.get("/api/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = dict(line.rsplit(" ", 1) for line in response.text.splitlines() if not line.startswith("#"))
    assert samples == {
        'metachat_webhook_events_total{outcome="accepted"}': "1",
        'metachat_webhook_events_total{outcome="duplicate"}': "1",
        'metachat_webhook_events_total{outcome="unrouted"}': "1",
        'metachat_webhook_events_total{outcome="skipped"}': "0",
        "metachat_webhook_requests_rejected_total": "1",
    }
    # Platform-wide numbers: not for tenant keys, nor without a key.
    tenant = await create_tenant(client)
    tenant_key = await create_tenant_key(client, tenant["id"])
    assert (await client.get("/api/metrics", headers={"Authorization": f"Bearer {tenant_key}"})).status_code == 403
    client.headers.pop("Authorization")
    assert (await client.get("/api/metrics")).status_code == 401


async def test_a_batched_post_stores_every_event_and_queues_one_task_each(
    client: Client, db: asyncpg.Connection
) -> None:
    channel = await whatsapp_channel(client)
    payload = wa_webhook(
        wa_value(messages=[wa_message("text", {"body": "one"}, wamid="wamid.A")]),
        wa_value(
            messages=[wa_message("text", {"body": "two"}, wamid="wamid.B")], statuses=[wa_status("wamid.out", "read")]
        ),
    )
    response = await post_signed(client, "/webhooks/whatsapp", payload)
    assert response.status_code == 200
    assert response.json() == {"accepted": 3, "duplicates": 0, "unrouted": 0}
    assert await inbox_keys(db) == ["message:wamid.A", "message:wamid.B", "status:wamid.out:read"]
    tasks = await queued_tasks(db)
    assert [task["type"] for task in tasks] == ["inbox.process"] * 3
    assert {task["aggregate_key"] for task in tasks} == {f"contact:{channel['id']}:16505551234"}
    # Queued in the order the events came: one contact's events are processed in that order.
    ids = {row[0]: str(row[1]) for row in await db.fetch("SELECT provider_event_key, id FROM inbox")}
    assert [json.loads(task["payload"])["payload"]["inbox_id"] for task in tasks] == [
        ids["message:wamid.A"],
        ids["message:wamid.B"],
        ids["status:wamid.out:read"],
    ]


async def test_one_post_for_numbers_of_two_tenants_stores_each_event_with_its_tenant(
    client: Client, db: asyncpg.Connection
) -> None:
    first = await whatsapp_channel(client)
    other = await create_tenant(client, "Other")
    await create_channel(
        client, other["id"], kind="whatsapp", name="Sales", config={"phone_number_id": "777777777777"}, secrets={}
    )
    payload = wa_webhook(
        wa_value(messages=[wa_message("text", {"body": "one"}, wamid="wamid.A")]),
        wa_value(messages=[wa_message("text", {"body": "two"}, wamid="wamid.B")], phone_number_id="777777777777"),
    )
    response = await post_signed(client, "/webhooks/whatsapp", payload)
    assert response.json() == {"accepted": 2, "duplicates": 0, "unrouted": 0}
    rows = await db.fetch("SELECT provider_event_key, tenant_id FROM inbox ORDER BY provider_event_key")
    assert [(row[0], str(row[1])) for row in rows] == [
        ("message:wamid.A", first["tenant_id"]),
        ("message:wamid.B", other["id"]),
    ]
    assert await db.fetchval("SELECT count(DISTINCT tenant_id) FROM outbox WHERE kind = 'task'") == 2


async def test_the_same_post_three_times_is_stored_and_processed_once(
    client: Client, container: AsyncContainer, db: asyncpg.Connection
) -> None:
    channel = await whatsapp_channel(client)
    payload = wa_webhook(wa_value(messages=[wa_message("text", {"body": "only once"})]))
    answers = [(await post_signed(client, "/webhooks/whatsapp", payload)).json() for _ in range(3)]
    assert [a["accepted"] for a in answers] == [1, 0, 0]
    assert [a["duplicates"] for a in answers] == [0, 1, 1]
    tasks = await queued_tasks(db)
    assert len(tasks) == 1
    process = await container.get(ProcessInboxEntry)
    inbox_id = uuid.UUID(json.loads(tasks[0]["payload"])["payload"]["inbox_id"])
    task = ProcessInboxEntryInput(tenant_id=TenantId(uuid.UUID(channel["tenant_id"])), inbox_id=inbox_id)
    # The worker may run the task more than once (redelivery): the second run does nothing.
    assert (await process.execute(task)).outcome == "message_stored"
    assert (await process.execute(task)).outcome == "already_processed"
    assert await db.fetchval("SELECT count(*) FROM messages") == 1


async def test_per_channel_url_trusts_only_the_channel_app_secret(client: Client, db: asyncpg.Connection) -> None:
    channel = await whatsapp_channel(client, app_secret=OWN_APP_SECRET)
    path = f"/webhooks/whatsapp/{channel['id']}"
    payload = wa_webhook(wa_value(messages=[wa_message("text", {"body": "own app"})]))
    assert (await post_signed(client, path, payload, APP_SECRET)).status_code == 403
    assert (await post_signed(client, path, payload, OWN_APP_SECRET)).status_code == 200
    assert await inbox_keys(db) == ["message:wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRGQTc3"]


async def test_per_channel_url_does_not_store_events_of_other_tenants(client: Client, db: asyncpg.Connection) -> None:
    own = await whatsapp_channel(client, app_secret=OWN_APP_SECRET)
    other_tenant = await create_tenant(client, "Other")
    await create_channel(
        client,
        other_tenant["id"],
        kind="whatsapp",
        name="Other",
        config={"phone_number_id": "777777777777"},
        secrets={},
    )
    payload = wa_webhook(wa_value(messages=[wa_message("text", {"body": "spoof"})], phone_number_id="777777777777"))
    response = await post_signed(client, f"/webhooks/whatsapp/{own['id']}", payload, OWN_APP_SECRET)
    assert response.json()["unrouted"] == 1
    assert await inbox_keys(db) == []


async def test_platform_url_without_a_platform_secret_trusts_nothing(
    client: Client, container: AsyncContainer, db: asyncpg.Connection
) -> None:
    await whatsapp_channel(client, app_secret=OWN_APP_SECRET)
    accept = AcceptWebhook(
        await container.get(ChannelRegistry),
        await container.get(ChannelDirectory),
        PlatformWebhookSecrets(app_secret=None, verify_token=None),
        await container.get(InboxWriter),
        WebhookCounters(),
    )
    body = meta_json(wa_webhook(wa_value(messages=[wa_message("text", {"body": "x"})])))
    # Even a body signed with a channel's own secret is refused there: that secret belongs to its own URL.
    with pytest.raises(SignatureInvalid):
        await accept.execute(AcceptWebhookInput(ChannelKind.WHATSAPP, body, signature(body, OWN_APP_SECRET)))
    assert await inbox_keys(db) == []


async def test_messenger_page_events_are_routed_by_page_id(client: Client, db: asyncpg.Connection) -> None:
    tenant = await create_tenant(client)
    await create_channel(client, tenant["id"], kind="messenger", name="Page", config={"page_id": PAGE_ID}, secrets={})
    payload = fb_webhook(fb_event(message={"mid": "m_1", "text": "hello"}), fb_event(read={"watermark": 1764079400000}))
    response = await post_signed(client, "/webhooks/messenger", payload)
    assert response.json()["accepted"] == 2
    assert await inbox_keys(db) == ["message:m_1", "read:7766554433221100:1764079400000"]
    wrong_kind = await post_signed(client, "/webhooks/whatsapp", payload)
    assert wrong_kind.status_code == 400
