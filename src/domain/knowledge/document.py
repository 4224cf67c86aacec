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

    def start_processing(self) -> None:
        self.status = DocumentStatus.PROCESSING
        self.error = ""
        self.updated_at = utc_now()

    def mark_ready(self, *, chunk_count: int, page_count: int | None, embedding_model: str) -> None:
        self.status = DocumentStatus.READY
        self.chunk_count = chunk_count
        self.page_count = page_count
        self.embedding_model = embedding_model
        self.error = ""
        self.updated_at = utc_now()

    def mark_failed(self, reason: str) -> None:
        self.status = DocumentStatus.FAILED
        self.error = reason
        self.chunk_count = 0
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
