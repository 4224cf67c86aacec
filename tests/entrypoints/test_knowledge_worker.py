"""The knowledge base with the real worker and with OpenAI embeddings: uploads are indexed by the worker's
`document.index` handler through the event backbone, and switching the embedding model re-embeds."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import attrs
import pytest
from dishka import AsyncContainer

from application.auth import Principal
from application.knowledge.requeue_documents import RequeueKnowledgeDocuments
from application.knowledge.search_knowledge import SearchKnowledge, SearchKnowledgeInput
from application.ports.embeddings import Embedder
from domain.common.ids import TenantId
from domain.knowledge.retrieval import SearchMode
from domain.tenants.api_key import ALL_SCOPES
from entrypoints.ioc.containers import make_http_container
from entrypoints.settings import OpenAISettings, Settings
from entrypoints.worker.handlers import register_handlers
from entrypoints.worker.registry import WorkerHandlers
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.api import Client, create_tenant
from tests.support.knowledge import run_index_tasks
from tests.support.worker import running_worker, worker_settings

OPERATOR = Principal(key_id=None, tenant_id=None, scopes=ALL_SCOPES)
GUIDE = b"# Returns\n\nUnused items can be returned within 30 days for a full refund.\n"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # In-process transport: the worker started below relays the outbox to its own handlers.
    return worker_settings(settings, None)


async def wait_for_status(client: Client, tenant_id: str, document_id: str, status: str) -> dict[str, Any]:
    for _ in range(400):
        response = await client.get(f"/api/tenants/{tenant_id}/documents/{document_id}")
        if response.json()["status"] == status:
            document: dict[str, Any] = response.json()
            return document
        await asyncio.sleep(0.05)
    raise AssertionError(f"document never became {status}: {response.json()}")


async def test_the_worker_indexes_uploads_from_the_outbox(client: Client, settings: Settings) -> None:
    tenant = await create_tenant(client)
    async with running_worker(settings, register_handlers(WorkerHandlers())):
        response = await client.post(
            f"/api/tenants/{tenant['id']}/documents", files=[("files", ("returns.md", GUIDE, "text/markdown"))]
        )
        assert response.status_code == 202, response.text
        [document] = response.json()["documents"]
        ready = await wait_for_status(client, tenant["id"], document["id"], "ready")
    assert ready["chunk_count"] == 1
    found = await client.post(f"/api/tenants/{tenant['id']}/search", json={"query": "refund for returned items"})
    assert "30 days" in found.json()["passages"][0]["text"]


async def test_switching_to_openai_embeddings_re_embeds_every_document(
    client: Client, container: AsyncContainer, settings: Settings, database_url: str, db: asyncpg.Connection
) -> None:
    tenant = await create_tenant(client)
    upload = await client.post(
        f"/api/tenants/{tenant['id']}/documents", files=[("files", ("returns.md", GUIDE, "text/markdown"))]
    )
    assert upload.status_code == 202
    # Indexed with the local model (no OPENAI_API_KEY in the test settings).
    assert await run_index_tasks(container, database_url) == 1
    assert await db.fetchval("SELECT embedding_model FROM chunks") == "all-MiniLM-L6-v2"

    async with FakeOpenAIServer() as openai_server:
        switched = attrs.evolve(settings, openai=OpenAISettings(api_key="sk-test", base_url=openai_server.base_url))
        openai_container = make_http_container(switched)
        try:
            async with openai_container() as request:
                requeued = await (await request.get(RequeueKnowledgeDocuments)).execute()
            assert requeued == 1
            assert await run_index_tasks(openai_container, database_url) == 1
            rows = await db.fetch("SELECT embedding_model, embedding_dim FROM chunks")
            assert [tuple(row) for row in rows] == [("text-embedding-3-small", 1536)]
            search = await openai_container.get(SearchKnowledge)
            result = await search.execute(
                SearchKnowledgeInput(
                    actor=OPERATOR, tenant_id=TenantId(uuid.UUID(tenant["id"])), query="refund", mode=SearchMode.VECTOR
                )
            )
        finally:
            await openai_container.close()
    assert result.embedding_model == "text-embedding-3-small"
    assert len(result.passages) == 1
    assert result.passages[0].vector_score is not None
    assert openai_server.requests_to("/v1/embeddings")


async def test_the_embedding_window_of_an_openai_protocol_server_is_configurable(settings: Settings) -> None:
    served = OpenAISettings(api_key="sk-test", base_url="http://127.0.0.1:9/v1", embedding_max_tokens=512)
    container = make_http_container(attrs.evolve(settings, openai=served))
    try:
        embedder = await container.get(Embedder)
    finally:
        await container.close()
    assert embedder.max_input_tokens == 512
