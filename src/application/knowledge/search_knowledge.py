"""Hybrid retrieval over one tenant's knowledge base: BM25 and vector legs, fused, with citations.

The query is embedded (the local model takes milliseconds of CPU in a thread) while the tenant is read and the
keyword leg runs; the vector leg follows the embedding on a connection of its own. Each leg contributes its best
`depth` chunks. The union is scored in both
legs (a chunk only one leg found still gets its exact score in the other) and fused with the tenant's
weights or by reciprocal rank; `min_score` and `top_k` apply to the fused score.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

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

T = TypeVar("T")


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
        title = self.document_title or self.filename
        parts = [title]
        if self.page is not None:
            parts.append(f"p. {self.page}")
        # A document's title is often its first heading too: "Store policies, Store policies" says nothing.
        path = self.heading_path
        if path and path[0].strip().casefold() == title.strip().casefold():
            path = path[1:]
        if path:
            parts.append(BREADCRUMB_SEPARATOR.join(path))
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
        wants_vector = data.mode is not SearchMode.KEYWORD
        # The query's embedding does not depend on the tenant: it is computed while the database works.
        async with _alongside(self._embed(query) if wants_vector else _none()) as embedding:
            return await self._search(data, query, embedding)

    async def _search(
        self, data: SearchKnowledgeInput, query: str, embedding: asyncio.Future[list[float] | None]
    ) -> SearchKnowledgeResult:
        # One transaction reads the tenant, runs the keyword leg and scores the passages; the vector leg runs
        # beside the keyword leg on a connection of its own.
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
            vector_leg = (
                self._vector_leg(data.tenant_id, embedding, depth, filters)
                if data.mode is not SearchMode.KEYWORD
                else _no_hits()
            )
            async with _alongside(vector_leg) as vector_hits:
                keyword_hits = (
                    await uow.knowledge.keyword_candidates(data.tenant_id, query, language, depth, filters)
                    if data.mode is not SearchMode.VECTOR
                    else []
                )
                union = list(
                    dict.fromkeys([hit.chunk_id for hit in keyword_hits] + [hit.chunk_id for hit in await vector_hits])
                )
            query_vector = await embedding
            passages = (
                await uow.knowledge.passages(
                    data.tenant_id,
                    union,
                    query=query,
                    language=language,
                    embedding=query_vector,
                    model=self._embedder.model_name,
                )
                if union  # no candidate, no passage
                else []
            )
        return SearchKnowledgeResult(
            query=query,
            mode=data.mode,
            fusion=rag.fusion,
            embedding_model=self._embedder.model_name,
            passages=_rank(passages, data.mode, rag, top_k, min_score),
        )

    async def _embed(self, query: str) -> list[float] | None:
        [embedding] = await self._embedder.embed([query])
        return embedding

    async def _vector_leg(
        self,
        tenant_id: TenantId,
        embedding: asyncio.Future[list[float] | None],
        depth: int,
        filters: SearchFilters,
    ) -> list[ChunkScore]:
        query_vector = await embedding
        if query_vector is None:
            return []
        async with self._uow_factory(tenant_id) as uow:
            return await uow.knowledge.vector_candidates(
                tenant_id, query_vector, self._embedder.model_name, depth, filters
            )


@asynccontextmanager
async def _alongside(work: Coroutine[Any, Any, T]) -> AsyncIterator[asyncio.Future[T]]:
    """Runs `work` as a task beside the block; a block that ends early (an error) cancels it, and nothing it
    raised is left unretrieved."""
    task = asyncio.ensure_future(work)
    try:
        yield task
    finally:
        task.cancel()  # nothing when it is done
        await asyncio.gather(task, return_exceptions=True)


async def _none() -> None:
    return None


async def _no_hits() -> list[ChunkScore]:
    return []


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
