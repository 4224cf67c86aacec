"""The worker's half of an upload: parse, chunk, embed and index one document.

Idempotent and resumable: the task carries the document's index version. A task whose version was
already answered (a redelivery) or overtaken (a newer reindex request) does nothing, and the chunks are
swapped in one transaction with the document row locked, so a crash at any point leaves either the old
chunks or the new ones, and the redelivered task simply starts over. A document deleted meanwhile is left
alone.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import attrs

from application.errors import NotFound
from application.knowledge.chunking import chunk_document
from application.knowledge.text_units import ApproximateTokenCounter
from application.knowledge.views import document_event
from application.ports.blob_storage import BlobNotFound, BlobStorage
from application.ports.documents import DocumentParseError, DocumentParser, TokenCounter
from application.ports.embeddings import Embedder, EmbeddingError
from application.ports.tasks import Task
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import ChunkId, DocumentId, TenantId, new_id
from domain.events import EventType
from domain.knowledge.document import Chunk, DocumentStatus, KnowledgeDocument
from domain.knowledge.parsed import ChunkDraft, ChunkingSettings, ChunkingStrategy, DocumentFormat
from domain.tenants.tenant import RagSettings

logger = logging.getLogger(__name__)

INDEX_DOCUMENT_TASK = "document.index"
# Texts per embedding call: progress is reported between calls.
EMBED_BATCH = 64


def index_task(document: KnowledgeDocument) -> Task:
    return Task(
        name=INDEX_DOCUMENT_TASK,
        tenant_id=document.tenant_id,
        payload={"document_id": str(document.id), "version": document.index_version},
        # One document is indexed by one worker at a time, in request order.
        ordering_key=f"document:{document.id}",
    )


@attrs.frozen
class IndexDocumentInput:
    tenant_id: TenantId
    document_id: DocumentId
    version: int

    @classmethod
    def from_task(cls, task: Task) -> IndexDocumentInput:
        payload: dict[str, Any] = task.payload
        return cls(
            tenant_id=task.tenant_id,
            document_id=DocumentId(uuid.UUID(payload["document_id"])),
            version=int(payload.get("version", 1)),
        )


# Of the embedding model's window, what chunks measured by the approximate counter may fill.
ESTIMATED_SHARE_OF_WINDOW = 0.75


def chunking_settings(rag: RagSettings, override: str, max_chunk_tokens: int) -> ChunkingSettings:
    """The tenant's chunking settings, with the document's own strategy when it was uploaded with one.

    Chunks are no longer than `max_chunk_tokens`, what the embedding model reads of a text: the rest of a
    longer chunk would be stored and shown with it but never embedded, so vector search could not find it.
    The tenant's `chunk_tokens` stays as they set it; this is only the size used with the current model.
    """
    strategy = ChunkingStrategy(override or str(rag.chunking))
    chunk_tokens = min(rag.chunk_tokens, max_chunk_tokens)
    # The chunker allows overlap up to half a chunk; the tenant settings allow a little more.
    return ChunkingSettings(
        strategy=strategy,
        chunk_tokens=chunk_tokens,
        overlap_tokens=min(rag.chunk_overlap_tokens, chunk_tokens // 2),
    )


class _Failed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IndexDocument:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, storage: BlobStorage, parser: DocumentParser, embedder: Embedder
    ) -> None:
        self._uow_factory = uow_factory
        self._storage = storage
        self._parser = parser
        self._embedder = embedder
        # Chunks are measured in the embedding model's own tokens when its tokenizer is at hand, else estimated.
        model_counter = embedder.token_counter
        self._token_counter: TokenCounter = model_counter if model_counter is not None else ApproximateTokenCounter()
        self._max_chunk_tokens = (
            embedder.max_input_tokens
            if model_counter is not None
            # The estimate runs below a model's count for some texts (0.78x or less for one in ten): an estimated
            # chunk keeps that far below the window, or a small one (512 tokens) would cut chunks off.
            else int(embedder.max_input_tokens * ESTIMATED_SHARE_OF_WINDOW)
        )

    async def execute(self, data: IndexDocumentInput) -> DocumentStatus | None:
        """The document's status afterwards, or None when this request had nothing (more) to do."""
        claimed = await self._claim(data)
        if claimed is None:
            return None
        document, rag, language = claimed
        try:
            chunks, title, page_count = await self._build_chunks(data, document, rag)
        except _Failed as failure:
            return await self._finish(data, language, failure.reason, [], None, None)
        return await self._finish(data, language, None, chunks, title, page_count)

    async def _claim(self, data: IndexDocumentInput) -> tuple[KnowledgeDocument, RagSettings, str] | None:
        async with self._uow_factory(data.tenant_id) as uow:
            document = await uow.documents.get(data.tenant_id, data.document_id, lock=True)
            if document is None or document.is_settled(data.version):
                return None
            tenant = await uow.tenants.get(data.tenant_id)
            if tenant is None:
                raise NotFound("tenant not found")
            document.start_processing()
            await uow.documents.update(document)
            await uow.commit()
        return document, tenant.settings.rag, tenant.settings.language

    async def _build_chunks(
        self, data: IndexDocumentInput, document: KnowledgeDocument, rag: RagSettings
    ) -> tuple[list[Chunk], str | None, int | None]:
        try:
            content = await self._storage.get(document.storage_key)
        except BlobNotFound as error:
            raise _Failed("the uploaded file is missing from storage") from error
        try:
            parsed = await asyncio.to_thread(self._parser.parse, content, DocumentFormat(document.format))
        except DocumentParseError as error:
            raise _Failed(error.reason) from error
        settings = chunking_settings(rag, document.chunking, self._max_chunk_tokens)
        try:
            drafts = await chunk_document(
                parsed, settings, embed=self._embedder.embed, token_counter=self._token_counter
            )
        except EmbeddingError as error:
            raise _Failed(f"embedding failed: {error}") from error
        if not drafts:
            raise _Failed("document contains no text")
        vectors = await self._embed(data, drafts)
        chunks = [
            Chunk(
                id=ChunkId(new_id()),
                tenant_id=data.tenant_id,
                document_id=data.document_id,
                ordinal=draft.ordinal,
                text=draft.text,
                token_count=draft.token_count,
                embedding_model=self._embedder.model_name,
                embedding=vector,
                page=draft.page,
                heading_path=draft.heading_path,
            )
            for draft, vector in zip(drafts, vectors, strict=True)
        ]
        return chunks, parsed.title, parsed.page_count

    async def _embed(self, data: IndexDocumentInput, drafts: list[ChunkDraft]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(drafts), EMBED_BATCH):
            batch = [draft.text for draft in drafts[start : start + EMBED_BATCH]]
            try:
                vectors.extend(await self._embedder.embed(batch))
            except EmbeddingError as error:
                raise _Failed(f"embedding failed: {error}") from error
            if len(vectors) < len(drafts):
                async with self._uow_factory(data.tenant_id) as uow:
                    percent = len(vectors) * 100 // len(drafts)
                    await uow.documents.record_progress(data.tenant_id, data.document_id, data.version, percent)
                    await uow.commit()
        return vectors

    async def _finish(
        self,
        data: IndexDocumentInput,
        language: str,
        failure: str | None,
        chunks: list[Chunk],
        title: str | None,
        page_count: int | None,
    ) -> DocumentStatus | None:
        async with self._uow_factory(data.tenant_id) as uow:
            document = await uow.documents.get(data.tenant_id, data.document_id, lock=True)
            if document is None or document.is_settled(data.version):
                # Deleted, or a newer request took over while this one worked: its result is not wanted.
                return None
            await uow.knowledge.replace_chunks(data.tenant_id, data.document_id, chunks, language)
            if failure is not None:
                document.mark_failed(failure)
                event = EventType.DOCUMENT_FAILED
                logger.info("document failed to index", extra={"document_id": str(document.id), "reason": failure})
            else:
                if title and title.strip():
                    # The document's own title (PDF metadata, <title>, first heading) beats its file name.
                    document.title = title.strip()[:500]
                document.mark_ready(
                    chunk_count=len(chunks), page_count=page_count, embedding_model=self._embedder.model_name
                )
                event = EventType.DOCUMENT_INDEXED
            await uow.documents.update(document)
            await uow.outbox.add([document_event(event, document)])
            await uow.commit()
        return document.status
