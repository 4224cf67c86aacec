"""Hybrid retrieval over one tenant's knowledge base: BM25 and vector legs, fused, with citations.

The keyword leg runs while the query is being embedded (the local model takes milliseconds of CPU in a
thread), then the vector leg; each leg contributes its best `depth` chunks. The union is scored in both
legs (a chunk only one leg found still gets its exact score in the other) and fused with the tenant's
weights or by reciprocal rank; `min_score` and `top_k` apply to the fused score.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import attrs

from application.auth import Principal
from application.errors import InvalidInput, NotFound
from application.knowledge.chunking import BREADCRUMB_SEPARATOR
from application.ports.embeddings import Embedder
from application.ports.knowledge import ChunkScore, ScoredPassage, SearchFilters
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import ChunkId, DocumentId, TenantId
from domain.knowledge.retrieval import FusionWeights, LegScores, SearchMode, fuse
from domain.tenants.api_key import Scope
from domain.tenants.tenant import FusionMethod, RagSettings

MAX_QUERY_CHARS = 2000
MAX_TOP_K = 50


@attrs.frozen
class SearchKnowledgeInput:
    actor: Principal
    tenant_id: TenantId
    query: str
    # None: the tenant's RagSettings.
    top_k: int | None = None
    mode: SearchMode = SearchMode.HYBRID
    min_score: float | None = None
    document_ids: tuple[DocumentId, ...] = ()
    tags: tuple[str, ...] = ()


@attrs.frozen
class Citation:
    document_id: DocumentId
    document_title: str
    filename: str
    page: int | None
    heading_path: tuple[str, ...]
    source_url: str

    @property
    def label(self) -> str:
        """How an answer names its source: title, page, section path ("Refund policy, p. 3, Billing > Refunds")."""
        parts = [self.document_title or self.filename]
        if self.page is not None:
            parts.append(f"p. {self.page}")
        if self.heading_path:
            parts.append(BREADCRUMB_SEPARATOR.join(self.heading_path))
        return ", ".join(parts)


@attrs.frozen
class RetrievedPassage:
    chunk_id: ChunkId
    text: str
    # Fused score in [0, 1] (hybrid), BM25 relative to the best hit (keyword) or cosine similarity (vector).
    score: float
    keyword_score: float
    vector_score: float | None
    keyword_rank: int | None
    vector_rank: int | None
    citation: Citation


@attrs.frozen
class SearchKnowledgeResult:
    query: str
    mode: SearchMode
    fusion: FusionMethod
    embedding_model: str
    passages: list[RetrievedPassage]


def candidate_depth(top_k: int) -> int:
    """How many chunks each leg contributes to the fusion."""
    return min(200, max(4 * top_k, 20))


class SearchKnowledge:
    def __init__(self, uow_factory: UnitOfWorkFactory, embedder: Embedder) -> None:
        self._uow_factory = uow_factory
        self._embedder = embedder

    async def execute(self, data: SearchKnowledgeInput) -> SearchKnowledgeResult:
        data.actor.require(Scope.READ, data.tenant_id)
        query = " ".join(data.query.split())
        if not query:
            raise InvalidInput("query must not be empty", details={"field": "query"})
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidInput(f"query is longer than {MAX_QUERY_CHARS} characters", details={"field": "query"})
        async with self._uow_factory(data.tenant_id) as uow:
            tenant = await uow.tenants.get(data.tenant_id)
        if tenant is None:
            raise NotFound("tenant not found")
        rag = tenant.settings.rag
        language = tenant.settings.language
        top_k = max(1, min(data.top_k or rag.top_k, MAX_TOP_K))
        min_score = rag.min_score if data.min_score is None else data.min_score
        filters = SearchFilters(document_ids=data.document_ids, tags=data.tags)
        depth = candidate_depth(top_k)

        keyword_leg = (
            self._keyword_leg(data.tenant_id, query, language, depth, filters)
            if data.mode is not SearchMode.VECTOR
            else _nothing()
        )
        vector_leg = (
            self._vector_leg(data.tenant_id, query, depth, filters)
            if data.mode is not SearchMode.KEYWORD
            else _no_vector()
        )
        keyword_hits, (embedding, vector_hits) = await asyncio.gather(keyword_leg, vector_leg)
        union = list(dict.fromkeys([hit.chunk_id for hit in keyword_hits] + [hit.chunk_id for hit in vector_hits]))
        async with self._uow_factory(data.tenant_id) as uow:
            passages = await uow.knowledge.passages(
                data.tenant_id,
                union,
                query=query,
                language=language,
                embedding=embedding,
                model=self._embedder.model_name,
            )
        return SearchKnowledgeResult(
            query=query,
            mode=data.mode,
            fusion=rag.fusion,
            embedding_model=self._embedder.model_name,
            passages=_rank(passages, data.mode, rag, top_k, min_score),
        )

    async def _keyword_leg(
        self, tenant_id: TenantId, query: str, language: str, depth: int, filters: SearchFilters
    ) -> list[ChunkScore]:
        async with self._uow_factory(tenant_id) as uow:
            return await uow.knowledge.keyword_candidates(tenant_id, query, language, depth, filters)

    async def _vector_leg(
        self, tenant_id: TenantId, query: str, depth: int, filters: SearchFilters
    ) -> tuple[list[float], list[ChunkScore]]:
        [embedding] = await self._embedder.embed([query])
        async with self._uow_factory(tenant_id) as uow:
            hits = await uow.knowledge.vector_candidates(
                tenant_id, embedding, self._embedder.model_name, depth, filters
            )
        return embedding, hits


async def _nothing() -> list[ChunkScore]:
    return []


async def _no_vector() -> tuple[None, list[ChunkScore]]:
    return None, []


def _rank(
    passages: Sequence[ScoredPassage], mode: SearchMode, rag: RagSettings, top_k: int, min_score: float
) -> list[RetrievedPassage]:
    by_id = {passage.chunk_id: passage for passage in passages}
    fused = fuse(
        [LegScores(passage.chunk_id, passage.keyword_score, passage.vector_score) for passage in passages],
        mode,
        rag.fusion,
        FusionWeights(keyword=rag.keyword_weight, vector=rag.vector_weight),
    )
    results = []
    for item in fused:
        if item.score < min_score:
            break
        passage = by_id[item.key]
        results.append(
            RetrievedPassage(
                chunk_id=passage.chunk_id,
                text=passage.text,
                score=round(item.score, 6),
                keyword_score=round(passage.keyword_score, 6),
                vector_score=None if passage.vector_score is None else round(passage.vector_score, 6),
                keyword_rank=item.keyword_rank,
                vector_rank=item.vector_rank,
                citation=Citation(
                    document_id=passage.document_id,
                    document_title=passage.document_title,
                    filename=passage.filename,
                    page=passage.page,
                    heading_path=passage.heading_path,
                    source_url=passage.source_url,
                ),
            )
        )
        if len(results) == top_k:
            break
    return results
