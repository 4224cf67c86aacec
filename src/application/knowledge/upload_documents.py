"""A tenant uploads files for its knowledge base: check them, store them, queue their indexing.

Every file is checked before anything is stored, so one unacceptable file (too large, not a supported
type) fails the whole request. Accepted files go to blob storage, and the document row (pending) is written
in the same transaction as its `document.index` task. The same content uploaded again (same SHA-256 within
the tenant) returns the existing document, marked as a duplicate, and stores nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from pathlib import PurePosixPath, PureWindowsPath

import attrs

from application.auth import Principal
from application.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from application.knowledge.index_document import index_task
from application.knowledge.views import DocumentView, document_event
from application.ports.blob_storage import BlobStorage
from application.ports.documents import DocumentParser
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import DocumentId, TenantId, new_id
from domain.events import EventType
from domain.knowledge.document import KnowledgeDocument
from domain.knowledge.parsed import ChunkingStrategy, DocumentFormat
from domain.tenants.api_key import Scope

MAX_FILES_PER_UPLOAD = 50
MAX_TAGS = 20
MAX_TAG_LENGTH = 64

_CONTENT_TYPES = {
    DocumentFormat.PDF: "application/pdf",
    DocumentFormat.DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    DocumentFormat.TXT: "text/plain",
    DocumentFormat.MD: "text/markdown",
    DocumentFormat.HTML: "text/html",
}


@attrs.frozen
class UploadedFile:
    filename: str
    content_type: str | None
    data: bytes


@attrs.frozen
class UploadDocumentsInput:
    actor: Principal
    tenant_id: TenantId
    files: Sequence[UploadedFile]
    tags: Sequence[str] = ()
    # A chunking strategy for these documents instead of the tenant's ("" = the tenant's).
    chunking: str = ""
    # Where the content was fetched from, for web pages.
    source_url: str = ""


@attrs.frozen
class UploadLimits:
    max_file_bytes: int


@attrs.frozen
class _Checked:
    file: UploadedFile
    format: DocumentFormat
    content_hash: str


class UploadDocuments:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, storage: BlobStorage, parser: DocumentParser, limits: UploadLimits
    ) -> None:
        self._uow_factory = uow_factory
        self._storage = storage
        self._parser = parser
        self._limits = limits

    async def execute(self, data: UploadDocumentsInput) -> list[DocumentView]:
        data.actor.require(Scope.WRITE, data.tenant_id)
        if not data.files:
            raise InvalidInput("no file was uploaded", details={"field": "files"})
        if len(data.files) > MAX_FILES_PER_UPLOAD:
            raise InvalidInput(f"at most {MAX_FILES_PER_UPLOAD} files per upload", details={"field": "files"})
        tags = _checked_tags(data.tags)
        chunking = _checked_chunking(data.chunking)
        checked = [await self._check(file) for file in data.files]
        async with self._uow_factory(data.tenant_id) as uow:
            if await uow.tenants.get(data.tenant_id) is None:
                raise NotFound("tenant not found")
        return [await self._store(data, item, tags, chunking) for item in checked]

    async def _check(self, file: UploadedFile) -> _Checked:
        name = _display_name(file.filename)
        if len(file.data) > self._limits.max_file_bytes:
            raise PayloadTooLarge(
                f"{name} is larger than the {self._limits.max_file_bytes} bytes allowed",
                details={"filename": name, "size_bytes": len(file.data), "limit_bytes": self._limits.max_file_bytes},
            )
        detected = await asyncio.to_thread(self._parser.detect_format, file.data, name, file.content_type)
        if detected is None:
            raise UnsupportedMediaType(
                f"{name} is not a supported document type (PDF, DOCX, TXT, Markdown or HTML)",
                details={"filename": name, "declared_content_type": file.content_type},
            )
        return _Checked(
            file=attrs.evolve(file, filename=name),
            format=detected,
            content_hash=hashlib.sha256(file.data).hexdigest(),
        )

    async def _store(
        self, data: UploadDocumentsInput, item: _Checked, tags: tuple[str, ...], chunking: str
    ) -> DocumentView:
        async with self._uow_factory(data.tenant_id) as uow:
            existing = await uow.documents.find_by_hash(data.tenant_id, item.content_hash)
        if existing is not None:
            return DocumentView.of(existing, duplicate=True)
        document_id = DocumentId(new_id())
        document = KnowledgeDocument(
            id=document_id,
            tenant_id=data.tenant_id,
            title=item.file.filename,
            filename=item.file.filename,
            format=str(item.format),
            content_hash=item.content_hash,
            size_bytes=len(item.file.data),
            storage_key=f"{data.tenant_id}/documents/{document_id}",
            chunking=chunking,
            tags=tags,
            source_url=data.source_url,
        )
        await self._storage.put(document.storage_key, item.file.data, _CONTENT_TYPES[item.format])
        try:
            async with self._uow_factory(data.tenant_id) as uow:
                await uow.documents.add(document)
                await uow.outbox.add_tasks([index_task(document)])
                await uow.outbox.add([document_event(EventType.DOCUMENT_UPLOADED, document)])
                await uow.commit()
        except Conflict:
            # The same content arrived in a concurrent request, which stored it first.
            await self._storage.delete(document.storage_key)
            async with self._uow_factory(data.tenant_id) as uow:
                existing = await uow.documents.find_by_hash(data.tenant_id, item.content_hash)
            if existing is None:
                raise
            return DocumentView.of(existing, duplicate=True)
        except BaseException:
            await self._storage.delete(document.storage_key)
            raise
        return DocumentView.of(document)


def _display_name(filename: str) -> str:
    # Browsers send a bare name, some clients a full path (either separator): keep the last part only.
    name = PureWindowsPath(PurePosixPath(filename or "").name).name.strip()
    return (name or "document")[:255]


def _checked_tags(tags: Sequence[str]) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(tag.strip() for tag in tags if tag.strip()))
    if len(cleaned) > MAX_TAGS or any(len(tag) > MAX_TAG_LENGTH for tag in cleaned):
        raise InvalidInput(f"at most {MAX_TAGS} tags of up to {MAX_TAG_LENGTH} characters", details={"field": "tags"})
    return cleaned


def _checked_chunking(chunking: str) -> str:
    if not chunking:
        return ""
    try:
        return str(ChunkingStrategy(chunking))
    except ValueError as error:
        raise InvalidInput(
            f"unknown chunking strategy {chunking!r}: use one of {', '.join(ChunkingStrategy)}",
            details={"field": "chunking"},
        ) from error
