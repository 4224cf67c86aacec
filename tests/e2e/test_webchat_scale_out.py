"""The web chat split across processes the way production runs it: an API process holding the visitor's
socket, a separate worker process answering (outbox → RabbitMQ → conversation engine), and Redis pub/sub
carrying the streamed answer and the handoff back to the API process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import httpx
import pytest

from entrypoints.http.app import create_app
from entrypoints.ioc.containers import make_http_container
from entrypoints.settings import OpenAISettings, Settings
from entrypoints.worker.handlers import register_handlers
from entrypoints.worker.registry import WorkerHandlers
from tests.conftest import ADMIN_KEY
from tests.fakes.openai_server import FakeOpenAIServer, ScriptedTurn
from tests.support.webchat import create_widget, serve, start_session, widget_socket
from tests.support.worker import delete_topology, running_worker, worker_settings


@pytest.fixture
async def language_model() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
async def production_settings(
    settings: Settings, rabbitmq_url: str, language_model: FakeOpenAIServer
) -> AsyncIterator[Settings]:
    assert settings.redis_url is not None
    configured = worker_settings(
        attrs.evolve(settings, openai=OpenAISettings(api_key="test-key", base_url=language_model.base_url)),
        rabbitmq_url,
    )
    yield configured
    consumers = [subscription.consumer for subscription in register_handlers(WorkerHandlers()).events]
    await delete_topology(configured, consumers)


@pytest.fixture
async def api_process(production_settings: Settings) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    container = make_http_container(production_settings)
    app = create_app(container, production_settings)
    try:
        async with (
            serve(app) as base_url,
            httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client,
        ):
            yield base_url, client
    finally:
        await container.close()


async def test_the_worker_process_reaches_the_socket_held_by_the_api_process(
    api_process: tuple[str, httpx.AsyncClient], production_settings: Settings, language_model: FakeOpenAIServer
) -> None:
    base_url, client = api_process
    widget = await create_widget(client)
    session = await start_session(client, widget["widget_id"])
    language_model.chat.enqueue(ScriptedTurn(text="Hello from the worker, word by word."))

    async with (
        running_worker(production_settings, register_handlers(WorkerHandlers())),
        widget_socket(base_url, session["token"]) as tab,
    ):
        await tab.say("hi there")
        frames = await tab.receive_until("message", within=30, role="bot")
        await tab.say("I want to talk to a person")
        handoff = await tab.receive_until("handoff", within=30)

    deltas: list[dict[str, Any]] = [frame for frame in frames if frame["type"] == "delta"]
    answer = frames[-1]
    assert len(deltas) > 1
    assert "".join(delta["text"] for delta in deltas) == answer["text"] == "Hello from the worker, word by word."
    assert {delta["replyId"] for delta in deltas} == {answer["id"]}
    assert handoff[-1] == {"type": "handoff", "state": "joined"}
