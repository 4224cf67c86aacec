from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from application.knowledge.search_knowledge import RetrievedPassage, SearchKnowledgeResult
from application.knowledge.views import DocumentView
from entrypoints.http.schemas.common import Strict

Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
ChunkingName = Literal["fixed", "recursive", "semantic", "qa"]


class ImportUrlBody(Strict):
    """JSON alternative to a multipart upload: fetch this web page into the knowledge base."""

    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    tags: Annotated[list[Tag], msgspec.Meta(max_length=20)] = msgspec.field(default_factory=list)
    chunking: ChunkingName | None = None


class DocumentResponse(msgspec.Struct):
    id: uuid.UUID
    tenant_id: uuid.UUID
    title: str
    filename: str
    format: str
    size_bytes: int
    content_hash: str
    source_url: str
    tags: list[str]
    chunking: str
    # pending → processing → ready | failed (with `error` saying why).
    status: str
    error: str
    progress: int
    chunk_count: int
    page_count: int | None
    embedding_model: str
    created_at: datetime
    updated_at: datetime
    # True when this upload's content was already in the knowledge base: the existing document is returned.
    duplicate: bool

    @classmethod
    def of(cls, view: DocumentView) -> DocumentResponse:
        return cls(
            id=view.id,
            tenant_id=view.tenant_id,
            title=view.title,
            filename=view.filename,
            format=view.format,
            size_bytes=view.size_bytes,
            content_hash=view.content_hash,
            source_url=view.source_url,
            tags=list(view.tags),
            chunking=view.chunking,
            status=str(view.status),
            error=view.error,
            progress=view.progress,
            chunk_count=view.chunk_count,
            page_count=view.page_count,
            embedding_model=view.embedding_model,
            created_at=view.created_at,
            updated_at=view.updated_at,
            duplicate=view.duplicate,
        )


class UploadResponse(msgspec.Struct):
    documents: list[DocumentResponse]


class DocumentPage(msgspec.Struct):
    items: list[DocumentResponse]
    next_cursor: str | None


class SearchBody(Strict):
    query: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    top_k: Annotated[int, msgspec.Meta(ge=1, le=50)] | None = None
    mode: Literal["hybrid", "keyword", "vector"] = "hybrid"
    min_score: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    document_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=100)] = msgspec.field(default_factory=list)
    tags: Annotated[list[Tag], msgspec.Meta(max_length=20)] = msgspec.field(default_factory=list)


class CitationResponse(msgspec.Struct):
    document_id: uuid.UUID
    document_title: str
    filename: str
    page: int | None
    heading_path: list[str]
    source_url: str
    # "Title, p. 3, Section > Subsection"
    label: str


class ScoreBreakdown(msgspec.Struct):
    # BM25 of the chunk for the query (0: no query word in it).
    keyword: float
    # Cosine similarity of the chunk's and the query's embeddings (null in keyword mode).
    vector: float | None
    keyword_rank: int | None
    vector_rank: int | None


class PassageResponse(msgspec.Struct):
    chunk_id: uuid.UUID
    text: str
    score: float
    scores: ScoreBreakdown
    citation: CitationResponse

    @classmethod
    def of(cls, passage: RetrievedPassage) -> PassageResponse:
        citation = passage.citation
        return cls(
            chunk_id=passage.chunk_id,
            text=passage.text,
            score=passage.score,
            scores=ScoreBreakdown(
                keyword=passage.keyword_score,
                vector=passage.vector_score,
                keyword_rank=passage.keyword_rank,
                vector_rank=passage.vector_rank,
            ),
            citation=CitationResponse(
                document_id=citation.document_id,
                document_title=citation.document_title,
                filename=citation.filename,
                page=citation.page,
                heading_path=list(citation.heading_path),
                source_url=citation.source_url,
                label=citation.label,
            ),
        )


class SearchResponse(msgspec.Struct):
    query: str
    mode: str
    fusion: str
    embedding_model: str
    passages: list[PassageResponse]

    @classmethod
    def of(cls, result: SearchKnowledgeResult) -> SearchResponse:
        return cls(
            query=result.query,
            mode=str(result.mode),
            fusion=str(result.fusion),
            embedding_model=result.embedding_model,
            passages=[PassageResponse.of(passage) for passage in result.passages],
        )
