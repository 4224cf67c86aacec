"""The conversation engine end to end, through real RabbitMQ and Postgres: signed Meta webhooks in, the
worker's inbox and turn tasks, knowledge retrieval from an uploaded document, a local OpenAI-protocol model
that calls search_knowledge_base and then answers, and the reply at the fake Graph API; handoffs reaching
RabbitMQ and the tenant's webhook; agent replies; release; the tool-loop limit; and a worker process
killed in the middle of a turn."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aio_pika
import attrs
import pytest

from adapters.rabbitmq.topology import RabbitTopology
from entrypoints.settings import MetaSettings, OpenAISettings, Settings
from entrypoints.worker.handlers import register_handlers
from entrypoints.worker.registry import WorkerHandlers
from tests.fakes.graph_api import FakeGraphApi
from tests.fakes.openai_server import CHAT_PATH, FakeOpenAIServer, ScriptedTurn
from tests.support.api import Client, create_channel, create_tenant
from tests.support.meta import (
    PAGE_ID,
    PHONE_NUMBER_ID,
    PSID,
    fb_event,
    fb_webhook,
    meta_json,
    signature,
    wa_message,
    wa_value,
    wa_webhook,
)
from tests.support.webhook_receiver import WebhookReceiver, webhook_receiver
from tests.support.worker import delete_topology, running_worker, worker_settings

APP_SECRET = "platform-app-secret"
POLICIES = b"""# Store policies

## Refunds

Refunds are issued within 30 days of purchase when the item is returned unused.

## Shipping

Orders ship within two business days. International shipping takes up to three weeks.
"""
ANSWER = "Refunds are issued within 30 days of purchase [1]."
# Child processes compile the code base once into this cache instead of at every start.
PYCACHE = Path(tempfile.gettempdir()) / "metachat-test-pycache"


@pytest.fixture
async def llm() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as server:
        yield server
        server.release_hung()


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with webhook_receiver() as started:
        yield started


@pytest.fixture
async def settings(
    settings: Settings, graph: FakeGraphApi, llm: FakeOpenAIServer, rabbitmq_url: str
) -> AsyncIterator[Settings]:
    configured = worker_settings(
        attrs.evolve(
            settings,
            meta=MetaSettings(app_secret=APP_SECRET, graph_api_url=graph.base_url),
            openai=OpenAISettings(api_key="test-key", base_url=llm.base_url, model="gpt-test"),
        ),
        rabbitmq_url,
    )
    yield configured
    # The worker's own event queues too (the web chat's handoff notices), or they outlive the test.
    await delete_topology(
        configured, [subscription.consumer for subscription in register_handlers(WorkerHandlers()).events]
    )


@attrs.define
class Tenant:
    id: str
    channel_id: str


async def whatsapp_tenant(client: Client, graph: FakeGraphApi, **settings: Any) -> Tenant:
    tenant = await create_tenant(client, "Acme", **settings)
    channel = await create_channel(
        client,
        tenant["id"],
        kind="whatsapp",
        name="Support",
        config={"phone_number_id": PHONE_NUMBER_ID},
        secrets={"access_token": graph.access_token},
    )
    return Tenant(tenant["id"], channel["id"])


async def upload_policies(client: Client, tenant: Tenant) -> None:
    response = await client.post(
        f"/api/tenants/{tenant.id}/documents", files=[("files", ("policies.md", POLICIES, "text/markdown"))]
    )
    assert response.status_code == 202, response.text

    async def ready() -> bool:
        listed = (await client.get(f"/api/tenants/{tenant.id}/documents")).json()["items"]
        return bool(listed) and all(item["status"] == "ready" for item in listed)

    await until(ready, within=30)


async def until(check: Callable[[], Any], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while True:
        outcome = check()
        if asyncio.iscoroutine(outcome):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def post_whatsapp(client: Client, text: str, *, wamid: str) -> None:
    # Sent now: a message from long ago would be outside WhatsApp's 24-hour window.
    message = wa_message("text", {"body": text}, wamid=wamid, timestamp=str(int(time.time())))
    body = meta_json(wa_webhook(wa_value(messages=[message])))
    response = await client.post(
        "/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": signature(body, APP_SECRET)}
    )
    assert response.status_code == 200, response.text


def whatsapp_texts(graph: FakeGraphApi) -> list[str]:
    return [str(r.json["text"]["body"]) for r in graph.sent() if r.json.get("type") == "text"]


def search_then_answer(llm: FakeOpenAIServer) -> None:
    llm.chat.enqueue(ScriptedTurn.call("search_knowledge_base", query="refund period"), ScriptedTurn(text=ANSWER))


async def test_a_whatsapp_question_is_answered_from_the_uploaded_document(
    client: Client, settings: Settings, graph: FakeGraphApi, llm: FakeOpenAIServer
) -> None:
    tenant = await whatsapp_tenant(client, graph)
    search_then_answer(llm)
    async with running_worker(settings, register_handlers(WorkerHandlers())):
        await upload_policies(client, tenant)
        await post_whatsapp(client, "How long do I have to get a refund?", wamid="wamid.q1")
        await until(lambda: whatsapp_texts(graph), within=30)

    [reply] = whatsapp_texts(graph)
    assert reply.startswith(ANSWER)
    assert "\n\nSources:\n[1] Store policies" in reply
    first, second = (request.json for request in llm.requests_to(CHAT_PATH))
    assert {tool["function"]["name"] for tool in first["tools"]} >= {"search_knowledge_base", "handoff_to_human"}
    assert "Refunds are issued within 30 days" in first["messages"][0]["content"]
    tool_result = second["messages"][-1]
    assert tool_result["role"] == "tool"
    assert "Refunds are issued within 30 days" in tool_result["content"]
    conversations = (await client.get(f"/api/tenants/{tenant.id}/conversations")).json()["items"]
    detail = (await client.get(f"/api/tenants/{tenant.id}/conversations/{conversations[0]['id']}")).json()
    assert [call["name"] for call in detail["tool_calls"]] == ["search_knowledge_base"]
    bot = [m for m in detail["messages"]["items"] if m["sender"] == "bot"]
    assert bot[0]["status"] == "sent"
    assert bot[0]["content"]["citations"][0]["title"].startswith("Store policies")


async def test_a_messenger_question_is_answered_from_the_uploaded_document(
    client: Client, settings: Settings, graph: FakeGraphApi, llm: FakeOpenAIServer
) -> None:
    created = await create_tenant(client, "Acme")
    channel = await create_channel(
        client,
        created["id"],
        kind="messenger",
        name="Page",
        config={"page_id": PAGE_ID},
        secrets={"page_access_token": graph.page_token},
    )
    tenant = Tenant(created["id"], channel["id"])
    search_then_answer(llm)

    def messenger_texts() -> list[str]:
        return [str(r.json["message"]["text"]) for r in graph.sent() if "message" in r.json]

    async with running_worker(settings, register_handlers(WorkerHandlers())):
        await upload_policies(client, tenant)
        event = fb_event(message={"mid": "m_q1", "text": "Can I get a refund?"}, timestamp=int(time.time() * 1000))
        body = meta_json(fb_webhook(event))
        response = await client.post(
            "/webhooks/messenger", content=body, headers={"X-Hub-Signature-256": signature(body, APP_SECRET)}
        )
        assert response.status_code == 200, response.text
        await until(messenger_texts, within=30)

    [reply] = messenger_texts()
    assert reply.startswith(ANSWER)
    assert "Sources:\n[1] Store policies" in reply
    [send] = [r for r in graph.sent() if "message" in r.json]
    assert send.json["recipient"] == {"id": PSID}


@asynccontextmanager
async def topic(settings: Settings, *routing_keys: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """What a tenant's system subscribed to the RabbitMQ topic exchange receives."""
    assert settings.rabbitmq_url is not None
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    exchange_name = RabbitTopology(namespace=settings.events.namespace).events_exchange.name
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(exchange_name)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for routing_key in routing_keys:
            await queue.bind(exchange, routing_key)

        async def deliver(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                received.put_nowait(json.loads(message.body))

        await queue.consume(deliver)
        yield received


async def test_handoff_agent_reply_and_release(
    client: Client, settings: Settings, graph: FakeGraphApi, llm: FakeOpenAIServer, receiver: WebhookReceiver
) -> None:
    tenant = await whatsapp_tenant(client, graph)
    subscribed = await client.post(
        f"/api/tenants/{tenant.id}/webhooks",
        json={"url": receiver.url("/agents"), "event_types": ["conversation.handoff", "conversation.released"]},
    )
    assert subscribed.status_code == 201, subscribed.text
    base = f"/api/tenants/{tenant.id}/conversations"
    async with (
        running_worker(settings, register_handlers(WorkerHandlers())),
        topic(
            settings, *(f"{tenant.id}.conversation.{kind}" for kind in ("handoff", "awaiting_agent", "released"))
        ) as events,
    ):
        await post_whatsapp(client, "I want to talk to a human", wamid="wamid.h1")
        handoff = await asyncio.wait_for(events.get(), 30)
        assert handoff["type"] == "conversation.handoff"
        assert handoff["data"]["trigger"] in ("keyword", "person_request")
        [delivered] = await receiver.wait_for("/agents", 1, within=30)
        assert json.loads(delivered.body)["type"] == "conversation.handoff"
        conversation_id = handoff["data"]["conversation_id"]

        await post_whatsapp(client, "hello? is anyone there?", wamid="wamid.h2")
        waiting = await asyncio.wait_for(events.get(), 30)
        assert (waiting["type"], waiting["data"]["text"]) == ("conversation.awaiting_agent", "hello? is anyone there?")
        awaiting = (await client.get(base, params={"state": "human"})).json()["items"]
        assert [item["id"] for item in awaiting] == [conversation_id]
        sent = await client.post(f"{base}/{conversation_id}/messages", json={"text": "Hi, Sam from support here!"})
        assert sent.status_code == 201, sent.text
        assert sent.json()["status"] == "sent"
        assert whatsapp_texts(graph) == ["Hi, Sam from support here!"]
        assert llm.requests_to(CHAT_PATH) == []

        released = await client.post(f"{base}/{conversation_id}/release")
        assert released.json()["state"] == "bot"
        assert (await asyncio.wait_for(events.get(), 30))["type"] == "conversation.released"
        await receiver.wait_for("/agents", 2, within=30)
        llm.chat.enqueue(ScriptedTurn(text="Glad Sam could help. Anything else?"))
        await post_whatsapp(client, "thanks, one more question", wamid="wamid.h3")
        await until(lambda: len(whatsapp_texts(graph)) == 2, within=30)

    assert whatsapp_texts(graph)[1] == "Glad Sam could help. Anything else?"
    [request] = (request.json for request in llm.requests_to(CHAT_PATH))
    said = [(message["role"], message["content"]) for message in request["messages"][1:]]
    assert said == [
        ("user", "I want to talk to a human"),
        ("user", "hello? is anyone there?"),
        ("assistant", "[a human agent wrote] Hi, Sam from support here!"),
        ("user", "thanks, one more question"),
    ]


async def test_the_tool_loop_stops_after_five_rounds(
    client: Client, settings: Settings, graph: FakeGraphApi, llm: FakeOpenAIServer
) -> None:
    await whatsapp_tenant(client, graph)
    llm.chat.enqueue(*[ScriptedTurn.call("search_knowledge_base", query=f"try {n}") for n in range(10)])
    async with running_worker(settings, register_handlers(WorkerHandlers())):
        await post_whatsapp(client, "What is the meaning of life?", wamid="wamid.l1")
        await until(lambda: whatsapp_texts(graph), within=30)

    requests = [request.json for request in llm.requests_to(CHAT_PATH)]
    assert len(requests) == 5
    assert [request["tool_choice"] for request in requests] == ["auto"] * 4 + ["none"]
    [reply] = whatsapp_texts(graph)
    assert "couldn't finish looking into that" in reply


# Two workers (each on a broker connection of its own, as two processes are) both consume every partition: the
# burst's tasks are shared between them, and the model is still asked once, with the messages in sent order.
@pytest.mark.parametrize("workers", [1, 2])
async def test_a_burst_of_five_messages_gets_one_coherent_reply(
    client: Client, settings: Settings, graph: FakeGraphApi, llm: FakeOpenAIServer, workers: int
) -> None:
    tenant = await whatsapp_tenant(client, graph)
    words = ["hi", "I ordered a lamp", "last week", "it has not arrived", "where is it?"]
    now = str(int(time.time()))
    burst = [wa_message("text", {"body": text}, wamid=f"wamid.b{n}", timestamp=now) for n, text in enumerate(words)]
    llm.chat.enqueue(ScriptedTurn(text="Let me check on your lamp."))
    async with AsyncExitStack() as stack:
        for _ in range(workers):
            await stack.enter_async_context(running_worker(settings, register_handlers(WorkerHandlers())))
        # Meta batches quick messages into one POST; the worker stores all five before the first turn runs.
        body = meta_json(wa_webhook(wa_value(messages=burst)))
        response = await client.post(
            "/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": signature(body, APP_SECRET)}
        )
        assert response.status_code == 200, response.text
        await until(lambda: whatsapp_texts(graph), within=30)
        conversations = (await client.get(f"/api/tenants/{tenant.id}/conversations")).json()["items"]

        async def all_turns_done() -> bool:
            rows = await client.get(f"/api/tenants/{tenant.id}/conversations/{conversations[0]['id']}")
            return len(rows.json()["messages"]["items"]) == 6

        await until(all_turns_done, within=30)
        await asyncio.sleep(1)

    assert whatsapp_texts(graph) == ["Let me check on your lamp."]
    [request] = (request.json for request in llm.requests_to(CHAT_PATH))
    assert [m["content"] for m in request["messages"] if m["role"] == "user"] == words


def worker_process(settings: Settings, data_dir: Path) -> subprocess.Popen[bytes]:
    """`metachat worker` in its own process, on the test's database, broker namespace and fakes."""
    assert settings.database_url is not None
    assert settings.rabbitmq_url is not None
    assert settings.openai.base_url is not None
    assert settings.secret_key is not None
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "RABBITMQ_URL": settings.rabbitmq_url,
        "RABBITMQ_NAMESPACE": settings.events.namespace,
        "TASK_PARTITIONS": str(settings.events.task_partitions),
        "METACHAT_SECRET_KEY": settings.secret_key,
        "METACHAT_DATA_DIR": str(data_dir),
        "META_APP_SECRET": APP_SECRET,
        "META_GRAPH_API_URL": settings.meta.graph_api_url,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": settings.openai.base_url,
        "ALLOW_PRIVATE_WEBHOOK_URLS": "1",
        "LOG_LEVEL": "WARNING",
        "PYTHONDONTWRITEBYTECODE": "",
        "PYTHONPYCACHEPREFIX": str(PYCACHE),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "entrypoints.cli.main", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def test_a_worker_killed_mid_turn_loses_nothing_and_replies_once(
    client: Client, settings: Settings, graph: FakeGraphApi, llm: FakeOpenAIServer, tmp_path: Path
) -> None:
    await whatsapp_tenant(client, graph)
    # The first model call never answers (the worker dies waiting); the next one does.
    llm.chat.enqueue(ScriptedTurn(hang=True), ScriptedTurn(text="Here is your answer."))
    first = worker_process(settings, tmp_path)
    second: subprocess.Popen[bytes] | None = None
    try:
        await post_whatsapp(client, "Where is my parcel?", wamid="wamid.k1")
        await until(lambda: llm.requests_to(CHAT_PATH), within=90)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

        second = worker_process(settings, tmp_path)
        await until(lambda: whatsapp_texts(graph), within=90)
        # Time for a duplicate to show up, were there going to be one.
        await asyncio.sleep(2)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()

    assert whatsapp_texts(graph) == ["Here is your answer."]
    assert len(llm.requests_to(CHAT_PATH)) == 2
