from __future__ import annotations

import base64
import builtins
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.postgres.tables import documents
from application.errors import Conflict, InvalidInput
from application.ports.repositories import Page
from domain.common.ids import DocumentId, TenantId
from domain.knowledge.document import DocumentStatus, KnowledgeDocument

_UNIQUE_HASH = "uq_documents_tenant_id_content_hash"


class PostgresDocumentRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, document: KnowledgeDocument) -> None:
        # A savepoint keeps the surrounding transaction usable when the content hash is taken.
        try:
            async with self._connection.begin_nested():
                await self._connection.execute(documents.insert().values(**_values(document)))
        except IntegrityError as error:
            if _UNIQUE_HASH in str(error.orig):
                raise Conflict(
                    "the tenant already has a document with this content",
                    details={"content_hash": document.content_hash},
                ) from error
            raise

    async def get(
        self, tenant_id: TenantId, document_id: DocumentId, *, lock: bool = False
    ) -> KnowledgeDocument | None:
        query = documents.select().where(documents.c.tenant_id == tenant_id, documents.c.id == document_id)
        if lock:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).one_or_none()
        return None if row is None else _to_document(row._mapping)

    async def find_by_hash(self, tenant_id: TenantId, content_hash: str) -> KnowledgeDocument | None:
        row = (
            await self._connection.execute(
                documents.select().where(documents.c.tenant_id == tenant_id, documents.c.content_hash == content_hash)
            )
        ).one_or_none()
        return None if row is None else _to_document(row._mapping)

    async def list(
        self, tenant_id: TenantId, *, limit: int, cursor: str | None, status: DocumentStatus | None = None
    ) -> Page[KnowledgeDocument]:
        query = (
            documents.select()
            .where(documents.c.tenant_id == tenant_id)
            .order_by(documents.c.created_at, documents.c.id)
            .limit(limit + 1)
        )
        if status is not None:
            query = query.where(documents.c.status == str(status))
        if cursor is not None:
            created_at, last_id = _decode_cursor(cursor)
            query = query.where(sa.tuple_(documents.c.created_at, documents.c.id) > sa.tuple_(created_at, last_id))
        rows = (await self._connection.execute(query)).all()
        items = [_to_document(row._mapping) for row in rows[:limit]]
        next_cursor = _encode_cursor(items[-1]) if len(rows) > limit else None
        return Page(items=items, next_cursor=next_cursor)

    async def update(self, document: KnowledgeDocument) -> None:
        values = _values(document)
        del values["tenant_id"], values["id"], values["created_at"]
        await self._connection.execute(
            documents.update()
            .where(documents.c.tenant_id == document.tenant_id, documents.c.id == document.id)
            .values(**values)
        )

    async def record_progress(self, tenant_id: TenantId, document_id: DocumentId, version: int, percent: int) -> None:
        await self._connection.execute(
            documents.update()
            .where(
                documents.c.tenant_id == tenant_id,
                documents.c.id == document_id,
                documents.c.index_version == version,
                documents.c.status == str(DocumentStatus.PROCESSING),
            )
            .values(progress=max(0, min(100, percent)), updated_at=sa.func.now())
        )

    async def delete(self, tenant_id: TenantId, document_id: DocumentId) -> bool:
        result = await self._connection.execute(
            documents.delete().where(documents.c.tenant_id == tenant_id, documents.c.id == document_id)
        )
        return bool(result.rowcount)

    async def needing_index(
        self, *, embedding_model: str, stalled_before: datetime, limit: int
    ) -> builtins.list[KnowledgeDocument]:
        stale_model = sa.and_(
            documents.c.status == str(DocumentStatus.READY), documents.c.embedding_model != embedding_model
        )
        stalled = sa.and_(
            documents.c.status.in_([str(DocumentStatus.PENDING), str(DocumentStatus.PROCESSING)]),
            documents.c.updated_at < stalled_before,
        )
        rows = (
            await self._connection.execute(
                documents.select().where(sa.or_(stale_model, stalled)).order_by(documents.c.updated_at).limit(limit)
            )
        ).all()
        return [_to_document(row._mapping) for row in rows]


def _values(document: KnowledgeDocument) -> dict[str, Any]:
    return {
        "tenant_id": document.tenant_id,
        "id": document.id,
        "title": document.title,
        "filename": document.filename,
        "format": document.format,
        "content_hash": document.content_hash,
        "size_bytes": document.size_bytes,
        "storage_key": document.storage_key,
        "source_url": document.source_url,
        "tags": list(document.tags),
        "chunking": document.chunking,
        "status": str(document.status),
        "error": document.error,
        "progress": document.progress,
        "chunk_count": document.chunk_count,
        "page_count": document.page_count,
        "embedding_model": document.embedding_model,
        "index_version": document.index_version,
        "indexed_version": document.indexed_version,
        "created_at": document.created_at,
        "updated_at": document.updated_at,
    }


def _to_document(row: Any) -> KnowledgeDocument:
    return KnowledgeDocument(
        id=DocumentId(row["id"]),
        tenant_id=TenantId(row["tenant_id"]),
        title=row["title"],
        filename=row["filename"],
        format=row["format"],
        content_hash=row["content_hash"],
        size_bytes=row["size_bytes"],
        storage_key=row["storage_key"],
        status=DocumentStatus(row["status"]),
        error=row["error"],
        chunk_count=row["chunk_count"],
        page_count=row["page_count"],
        chunking=row["chunking"],
        tags=tuple(row["tags"]),
        source_url=row["source_url"],
        embedding_model=row["embedding_model"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        index_version=row["index_version"],
        indexed_version=row["indexed_version"],
        progress=row["progress"],
    )


def _encode_cursor(document: KnowledgeDocument) -> str:
    raw = f"{document.created_at.isoformat()}|{document.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created_at, last_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created_at), uuid.UUID(last_id)
    except ValueError as error:
        raise InvalidInput("cursor is not valid", details={"field": "cursor"}) from error
