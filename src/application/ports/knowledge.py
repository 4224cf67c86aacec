"""Persistence of the knowledge base: document records, and the chunk index both search legs read."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import attrs

from application.ports.repositories import Page
from domain.common.ids import ChunkId, DocumentId, TenantId
from domain.knowledge.document import Chunk, DocumentStatus, KnowledgeDocument


@attrs.frozen
class SearchFilters:
    """Restrict a search to some documents: those listed, and/or those carrying any of the tags."""

    document_ids: tuple[DocumentId, ...] = ()
    tags: tuple[str, ...] = ()


@attrs.frozen
class ChunkScore:
    chunk_id: ChunkId
    score: float


@attrs.frozen
class ScoredPassage:
    """A chunk with what a citation needs, and its raw score in both legs: BM25 (0 when no query term is
    in it) and cosine similarity to the query (None without a query vector of the chunk's model)."""

    chunk_id: ChunkId
    document_id: DocumentId
    text: str
    page: int | None
    heading_path: tuple[str, ...]
    document_title: str
    filename: str
    source_url: str
    keyword_score: float
    vector_score: float | None


class DocumentRepository(Protocol):
    async def add(self, document: KnowledgeDocument) -> None:
        """Raises Conflict when the tenant already has a document with the same content hash."""
        ...

    async def get(
        self, tenant_id: TenantId, document_id: DocumentId, *, lock: bool = False
    ) -> KnowledgeDocument | None:
        """With `lock`, the row stays locked until the transaction ends (indexing and deletion serialise)."""
        ...

    async def find_by_hash(self, tenant_id: TenantId, content_hash: str) -> KnowledgeDocument | None: ...

    async def list(
        self, tenant_id: TenantId, *, limit: int, cursor: str | None, status: DocumentStatus | None = None
    ) -> Page[KnowledgeDocument]: ...

    async def update(self, document: KnowledgeDocument) -> None: ...

    async def record_progress(self, tenant_id: TenantId, document_id: DocumentId, version: int, percent: int) -> None:
        """Set the progress of a document still processing request `version` (no-op otherwise)."""
        ...

    async def delete(self, tenant_id: TenantId, document_id: DocumentId) -> bool: ...

    async def needing_index(
        self, *, embedding_model: str, stalled_before: datetime, limit: int
    ) -> builtins.list[KnowledgeDocument]:
        """Platform-wide sweep: ready documents embedded with another model, and documents pending or
        processing without any progress since `stalled_before` (their worker died or their task was lost)."""
        ...


class KnowledgeIndex(Protocol):
    """Chunks with their keyword and vector representations, always read and written for one tenant.

    `language` is the tenant's language code ("en", "pt-BR"); the index picks the matching stemmer and
    stop words, for the chunks it stores and for the queries it runs against them.
    """

    async def replace_chunks(
        self, tenant_id: TenantId, document_id: DocumentId, chunks: Sequence[Chunk], language: str
    ) -> None:
        """Swap a document's chunks (and the tenant's term statistics) within the current transaction."""
        ...

    async def delete_chunks(self, tenant_id: TenantId, document_id: DocumentId) -> int: ...

    async def keyword_candidates(
        self, tenant_id: TenantId, query: str, language: str, limit: int, filters: SearchFilters
    ) -> list[ChunkScore]:
        """Best BM25 scores first."""
        ...

    async def vector_candidates(
        self, tenant_id: TenantId, embedding: Sequence[float], model: str, limit: int, filters: SearchFilters
    ) -> list[ChunkScore]:
        """Highest cosine similarity first, among chunks embedded with `model` only."""
        ...

    async def passages(
        self,
        tenant_id: TenantId,
        chunk_ids: Sequence[ChunkId],
        *,
        query: str,
        language: str,
        embedding: Sequence[float] | None,
        model: str,
    ) -> list[ScoredPassage]:
        """The chunks with both raw scores (in no particular order); unknown ids are left out."""
        ...
