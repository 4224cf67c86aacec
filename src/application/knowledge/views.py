"""What callers see of a knowledge document, and the events its life cycle publishes."""

from __future__ import annotations

from datetime import datetime

import attrs

from domain.common.ids import DocumentId, TenantId
from domain.events import Event
from domain.knowledge.document import DocumentStatus, KnowledgeDocument


@attrs.frozen
class DocumentView:
    id: DocumentId
    tenant_id: TenantId
    title: str
    filename: str
    format: str
    size_bytes: int
    content_hash: str
    source_url: str
    tags: tuple[str, ...]
    chunking: str
    status: DocumentStatus
    error: str
    progress: int
    chunk_count: int
    page_count: int | None
    embedding_model: str
    created_at: datetime
    updated_at: datetime
    # Set on upload when the tenant already had this exact content: nothing new was stored.
    duplicate: bool = False

    @classmethod
    def of(cls, document: KnowledgeDocument, *, duplicate: bool = False) -> DocumentView:
        return cls(
            id=document.id,
            tenant_id=document.tenant_id,
            title=document.title,
            filename=document.filename,
            format=document.format,
            size_bytes=document.size_bytes,
            content_hash=document.content_hash,
            source_url=document.source_url,
            tags=document.tags,
            chunking=document.chunking,
            status=document.status,
            error=document.error,
            progress=document.progress,
            chunk_count=document.chunk_count,
            page_count=document.page_count,
            embedding_model=document.embedding_model,
            created_at=document.created_at,
            updated_at=document.updated_at,
            duplicate=duplicate,
        )


def document_event(event_type: str, document: KnowledgeDocument) -> Event:
    return Event(
        type=event_type,
        tenant_id=document.tenant_id,
        aggregate_key=f"document:{document.id}",
        data={
            "document_id": str(document.id),
            "title": document.title,
            "status": str(document.status),
            "chunk_count": document.chunk_count,
            "error": document.error,
        },
    )
