"""What bench/retrieval.py and bench/ingest.py share: a throwaway embedded Postgres with the platform's
migrations, the platform's knowledge-base use cases wired by hand, an on-disk embedding cache, metrics."""

from __future__ import annotations

import asyncio
import hashlib
import math
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import numpy as np
import pgserver
from pgserver._commands import pg_ctl
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.crypto.aes_gcm import AesGcmSecretCipher, generate_encoded_key
from adapters.documents.parser import ContentSniffingDocumentParser
from adapters.postgres import migrations
from adapters.postgres.engine import make_engine
from adapters.postgres.notifications import OutboxWakeups
from adapters.postgres.repositories.knowledge_index import (
    BM25Parameters,
    KeywordSearchLimits,
    PostgresKnowledgeIndex,
)
from adapters.postgres.unit_of_work import PostgresUnitOfWork, PostgresUnitOfWorkFactory
from adapters.storage.local_files import LocalBlobStorage
from application.auth import Principal
from application.knowledge.index_document import IndexDocument, IndexDocumentInput
from application.knowledge.search_knowledge import SearchKnowledge
from application.knowledge.upload_documents import UploadDocuments, UploadDocumentsInput, UploadedFile, UploadLimits
from application.ports.documents import TokenCounter
from application.ports.embeddings import Embedder
from application.ports.security import SecretCipher
from domain.common.ids import DocumentId, TenantId
from domain.knowledge.document import DocumentStatus
from domain.tenants.api_key import ALL_SCOPES
from domain.tenants.tenant import Tenant, TenantSettings

RESULTS = Path(__file__).resolve().parent / "results"
OPERATOR = Principal(key_id=None, tenant_id=None, scopes=ALL_SCOPES)


@asynccontextmanager
async def embedded_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL 18 + pgvector cluster in a temporary folder, migrated; removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="metachat-bench-"))
    server = await asyncio.to_thread(pgserver.get_server, folder / "pg", cleanup_mode="delete")
    try:
        # A benchmark database: durability costs time and buys nothing here. Shared buffers sized like a
        # server's (the 128 MB default is for small machines; the 100k-chunk index takes about 700 MB).
        server.psql(
            "ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off;"
            " ALTER SYSTEM SET full_page_writes = off; ALTER SYSTEM SET maintenance_work_mem = '1GB';"
            " ALTER SYSTEM SET shared_buffers = '1GB';"
        )
        # pg_ctl restart reuses the options the server was started with (socket directory, no TCP).
        await asyncio.to_thread(
            pg_ctl, ["-w", "-l", str(server.log), "restart"], pgdata=server.pgdata, user=server.system_user
        )
        server.psql("CREATE DATABASE bench;")
        url = server.get_uri("bench")
        await migrations.upgrade(url)
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


class CachingEmbedder:
    """Wraps an embedder; vectors are kept on disk under bench/results (unless `name` is None), keyed by model
    and text hash, so a second run of a benchmark does not spend minutes re-embedding the same corpus."""

    def __init__(self, inner: Embedder, name: str | None) -> None:
        self._inner = inner
        self._path = None if name is None else RESULTS / f"embeddings-{inner.model_name}-{name}.npz"
        self._vectors: dict[str, np.ndarray] = {}
        self._dirty = 0
        self.misses = 0
        if self._path is not None and self._path.exists():
            stored = np.load(self._path)
            self._vectors = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))

    @property
    def model_name(self) -> str:
        return self._inner.model_name

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    @property
    def max_input_tokens(self) -> int:
        return self._inner.max_input_tokens

    @property
    def token_counter(self) -> TokenCounter | None:
        return self._inner.token_counter

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.model_name}\0{text}".encode()).hexdigest()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        keys = [self._key(text) for text in texts]
        missing = list(dict.fromkeys(key for key in keys if key not in self._vectors))
        if missing:
            by_key = dict(zip(keys, texts, strict=True))
            fresh = await self._inner.embed([by_key[key] for key in missing])
            for key, vector in zip(missing, fresh, strict=True):
                self._vectors[key] = np.asarray(vector, dtype=np.float32)
            self.misses += len(missing)
            self._dirty += len(missing)
            if self._dirty >= 2000:
                self.save()
        return [self._vectors[key].tolist() for key in keys]

    def save(self) -> None:
        if not self._dirty or self._path is None:
            return
        RESULTS.mkdir(parents=True, exist_ok=True)
        keys = list(self._vectors)
        temporary = self._path.with_suffix(".tmp.npz")
        np.savez(temporary, keys=np.array(keys), vectors=np.stack([self._vectors[key] for key in keys]))
        temporary.replace(self._path)
        self._dirty = 0


class TunedUnitOfWork(PostgresUnitOfWork):
    """The platform's unit of work with the keyword index's constants overridden (for tuning runs)."""

    bm25 = BM25Parameters()
    keyword_limits = KeywordSearchLimits()

    async def __aenter__(self) -> TunedUnitOfWork:
        await super().__aenter__()
        self.knowledge = PostgresKnowledgeIndex(self.connection, bm25=self.bm25, keyword_limits=self.keyword_limits)
        return self


class TunedUnitOfWorkFactory(PostgresUnitOfWorkFactory):
    def __init__(
        self, engine: AsyncEngine, cipher: SecretCipher, bm25: BM25Parameters, keyword_limits: KeywordSearchLimits
    ) -> None:
        super().__init__(engine, cipher, OutboxWakeups(relays_here=False))
        self._unit = type("Tuned", (TunedUnitOfWork,), {"bm25": bm25, "keyword_limits": keyword_limits})

    def __call__(self, tenant_id: TenantId | None) -> PostgresUnitOfWork:
        unit: PostgresUnitOfWork = self._unit(self._engine, self._cipher, self._wakeups, tenant_id)
        return unit


@attrs.define
class Platform:
    engine: AsyncEngine
    cipher: SecretCipher
    storage: LocalBlobStorage
    embedder: Embedder
    uow_factory: PostgresUnitOfWorkFactory

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str, embedder: Embedder) -> AsyncIterator[Platform]:
        engine = make_engine(url, pool_size=8, max_overflow=4)
        cipher = AesGcmSecretCipher.from_encoded_key(generate_encoded_key())
        files = Path(tempfile.mkdtemp(prefix="metachat-bench-files-"))
        try:
            yield cls(
                engine,
                cipher,
                LocalBlobStorage(files),
                embedder,
                PostgresUnitOfWorkFactory(engine, cipher, OutboxWakeups(relays_here=False)),
            )
        finally:
            await engine.dispose()
            shutil.rmtree(files, ignore_errors=True)

    def tuned(
        self, bm25: BM25Parameters | None = None, keyword_limits: KeywordSearchLimits | None = None
    ) -> PostgresUnitOfWorkFactory:
        return TunedUnitOfWorkFactory(
            self.engine, self.cipher, bm25 or BM25Parameters(), keyword_limits or KeywordSearchLimits()
        )

    def search(self, uow_factory: PostgresUnitOfWorkFactory | None = None) -> SearchKnowledge:
        return SearchKnowledge(uow_factory or self.uow_factory, self.embedder)

    async def create_tenant(self, name: str, settings: TenantSettings | None = None) -> TenantId:
        tenant = Tenant(id=TenantId(uuid.uuid4()), name=name, settings=settings or TenantSettings())
        async with self.uow_factory(None) as uow:
            await uow.tenants.add(tenant)
            await uow.commit()
        return tenant.id

    async def update_settings(self, tenant_id: TenantId, settings: TenantSettings) -> None:
        async with self.uow_factory(tenant_id) as uow:
            tenant = await uow.tenants.get(tenant_id)
            assert tenant is not None
            tenant.change_settings(settings)
            await uow.tenants.update(tenant)
            await uow.commit()

    async def ingest(
        self,
        tenant_id: TenantId,
        files: Sequence[tuple[str, str, bytes]],
        *,
        concurrency: int = 4,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, DocumentId]:
        """Upload (key, filename, content) files and index them, `concurrency` documents at a time, through
        UploadDocuments and IndexDocument (the worker's handler). Returns key → document id."""
        upload = UploadDocuments(
            self.uow_factory, self.storage, ContentSniffingDocumentParser(), UploadLimits(25 * 1_048_576)
        )
        index = IndexDocument(self.uow_factory, self.storage, ContentSniffingDocumentParser(), self.embedder)
        ids: dict[str, DocumentId] = {}
        gate = asyncio.Semaphore(concurrency)
        done = 0

        async def one(key: str, filename: str, content: bytes) -> None:
            nonlocal done
            async with gate:
                [view] = await upload.execute(
                    UploadDocumentsInput(
                        actor=OPERATOR,
                        tenant_id=tenant_id,
                        files=[UploadedFile(filename, "text/markdown", content)],
                    )
                )
                status = await index.execute(IndexDocumentInput(tenant_id, view.id, 1))
                if status is not DocumentStatus.READY and not view.duplicate:
                    raise RuntimeError(f"{key} did not index: {status}")
                ids[key] = view.id
                done += 1
                if progress is not None:
                    progress(done)

        await asyncio.gather(*(one(*file) for file in files))
        return ids


def ndcg_at_k(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    dcg = sum(1.0 / math.log2(rank + 2) for rank, key in enumerate(ranked[:k]) if key in relevant)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


def recall_at_k(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    return len(set(ranked[:k]) & relevant) / len(relevant) if relevant else 0.0


def percentile(values: Iterable[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


class Progress:
    """One line, rewritten in place: long ingestion runs show that they are moving."""

    def __init__(self, label: str, total: int) -> None:
        self._label = label
        self._total = total
        self._started = time.perf_counter()
        self._last = 0.0

    def __call__(self, done: int) -> None:
        now = time.perf_counter()
        if done == self._total or now - self._last > 2:
            self._last = now
            rate = done / max(now - self._started, 1e-9)
            end = "\n" if done == self._total else ""
            print(f"\r  {self._label}: {done}/{self._total} ({rate:.0f}/s)", end=end, flush=True)
