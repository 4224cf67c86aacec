"""Knowledge documents a tenant uploads and the chunks the assistant retrieves from them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import attrs

from domain.common.ids import ChunkId, DocumentId, TenantId
from domain.common.time import utc_now


class DocumentStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


@attrs.define
class KnowledgeDocument:
    id: DocumentId
    tenant_id: TenantId
    title: str
    filename: str
    format: str
    content_hash: str
    size_bytes: int
    storage_key: str
    status: DocumentStatus = DocumentStatus.PENDING
    error: str = ""
    chunk_count: int = 0
    page_count: int | None = None
    chunking: str = ""
    tags: tuple[str, ...] = ()
    source_url: str = ""
    embedding_model: str = ""
    created_at: datetime = attrs.field(factory=utc_now)
    updated_at: datetime = attrs.field(factory=utc_now)
    # Each (re)index request bumps index_version and its task carries the number; indexed_version is the
    # request the stored chunks (or the failure) answer. Redelivered or overtaken tasks compare the two.
    index_version: int = 1
    indexed_version: int = 0
    # Percent of the chunks embedded so far while processing.
    progress: int = 0

    def request_reindex(self) -> int:
        """Ask for a fresh index (new model, new settings, retry after a failure); returns the request's version."""
        self.index_version += 1
        self.status = DocumentStatus.PENDING
        self.error = ""
        self.progress = 0
        self.updated_at = utc_now()
        return self.index_version

    def is_settled(self, version: int) -> bool:
        """True when the request `version` (or a later one) has already been answered."""
        return version < self.index_version or (
            self.indexed_version >= version and self.status in (DocumentStatus.READY, DocumentStatus.FAILED)
        )

    def start_processing(self) -> None:
        self.status = DocumentStatus.PROCESSING
        self.error = ""
        self.progress = 0
        self.updated_at = utc_now()

    def record_progress(self, percent: int) -> None:
        self.progress = max(0, min(100, percent))
        self.updated_at = utc_now()

    def mark_ready(self, *, chunk_count: int, page_count: int | None, embedding_model: str) -> None:
        self.status = DocumentStatus.READY
        self.chunk_count = chunk_count
        self.page_count = page_count
        self.embedding_model = embedding_model
        self.error = ""
        self.progress = 100
        self.indexed_version = self.index_version
        self.updated_at = utc_now()

    def mark_failed(self, reason: str) -> None:
        self.status = DocumentStatus.FAILED
        self.error = reason
        self.chunk_count = 0
        self.progress = 0
        self.indexed_version = self.index_version
        self.updated_at = utc_now()


@attrs.define
class Chunk:
    id: ChunkId
    tenant_id: TenantId
    document_id: DocumentId
    ordinal: int
    text: str
    token_count: int
    embedding_model: str
    embedding: list[float]
    page: int | None = None
    heading_path: tuple[str, ...] = ()
