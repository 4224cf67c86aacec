"""A WhatsApp message from webhook to reply: HTTP acknowledgement, the worker's inbox.process task,
the conversation turn, and the reply through the real send adapter to the fake Graph API."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import attrs
import pytest

from entrypoints.settings import MetaSettings, Settings
from entrypoints.worker.handlers import register_handlers
from entrypoints.worker.registry import WorkerHandlers
from tests.fakes.graph_api import FakeGraphApi
from tests.support.api import Client, create_channel, create_tenant
from tests.support.meta import (
    CONTACT,
    PHONE_NUMBER_ID,
    meta_json,
    signature,
    wa_message,
    wa_status,
    wa_value,
    wa_webhook,
)
from tests.support.worker import eventually, running_worker, worker_settings

APP_SECRET = "platform-app-secret"


@pytest.fixture
def settings(settings: Settings, graph: FakeGraphApi) -> Settings:
    meta = MetaSettings(app_secret=APP_SECRET, graph_api_url=graph.base_url)
    return worker_settings(attrs.evolve(settings, meta=meta), None)


async def post(client: Client, payload: object) -> None:
    body = meta_json(payload)
    response = await client.post(
        "/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": signature(body, APP_SECRET)}
    )
    assert response.status_code == 200, response.text


async def test_an_inbound_whatsapp_text_is_answered_and_its_statuses_tracked(
    client: Client, settings: Settings, graph: FakeGraphApi, db: asyncpg.Connection
) -> None:
    tenant = await create_tenant(client)
    await create_channel(
        client,
        tenant["id"],
        kind="whatsapp",
        name="Support",
        config={"phone_number_id": PHONE_NUMBER_ID},
        secrets={"access_token": graph.access_token},
    )

    def replies() -> list[dict[str, object]]:
        return [request.json for request in graph.sent() if request.json.get("type") == "text"]

    async with running_worker(settings, register_handlers(WorkerHandlers())):
        # Sent just now: the 24-hour window is open, so a free-form reply may go out.
        question = wa_message("text", {"body": "What are your opening hours?"}, timestamp=str(int(time.time())))
        await post(client, wa_webhook(wa_value(messages=[question])))
        await eventually(lambda: bool(replies()), within=20)
        [reply] = replies()
        assert reply["to"] == "+" + CONTACT
        assert reply["text"]
        # The reply is the first message the fake handed an id to.
        wamid = "wamid.FAKE1"
        await eventually_sql(db, "SELECT count(*) FROM messages WHERE provider_message_id = $1", wamid)
        await post(client, wa_webhook(wa_value(statuses=[wa_status(wamid, "delivered"), wa_status(wamid, "read")])))
        await eventually_sql(
            db, "SELECT count(*) FROM messages WHERE provider_message_id = $1 AND status = 'read'", wamid
        )


async def eventually_sql(db: asyncpg.Connection, query: str, *args: object) -> None:
    for _ in range(400):
        if await db.fetchval(query, *args):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never true: {query}")
