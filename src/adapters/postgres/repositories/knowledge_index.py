"""The knowledge base index in Postgres: BM25 over GIN-indexed tsvectors, cosine kNN over pgvector HNSW.

Keyword leg (BM25, Lucene's formula):
    score(chunk) = Σ_t idf(t) · tf·(k1+1) / (tf + k1·(1 - b + b·len/avglen)),  idf(t) = ln(1 + (N - df + ½)/(df + ½))
N, avglen and df come from `kb_stats`/`kb_terms` (per tenant, maintained when chunks are written); tf is read
from the candidate's own tsvector, filtered to the query's lexemes (`ts_filter(setweight(...))`) so only
those are unnested. Scoring costs a few microseconds per candidate, and an OR query over common words
matches most of a large knowledge base, so candidates are generated MaxScore-style: the query's rarest
lexemes first (a GIN lookup), then the top-k threshold θ is compared with the most the remaining, commoner
lexemes could add to a chunk that has none of the rare ones (idf·(k1+1)·max_tf/(max_tf + k1·(1-b)) each).
When that bound is below θ no other chunk can enter the top k and the result is exact BM25; otherwise the
next lexemes are added, up to a budget of candidate postings, past which the ranking is BM25 over the
chunks containing the query's most selective words. When even the rarest word is over the budget, the
candidates are (up to the budget) the chunks with the rarest word and another query word, or with its only word.

Each round is one call of `metachat_keyword_scores` (migration 0007), which finds the candidates and scores them
in one pass, past row-level security (checking the tenant itself), because under the policy Postgres never
uses the GIN index for `@@`. A tenant
small next to the whole table is scanned through its own rows instead of the GIN index, which would
otherwise visit every other tenant's chunks that share a query word.

Vector leg: cosine distance on the partial HNSW index of the embedding's dimension, with pgvector's
iterative scan so the tenant filter still yields k rows; small tenants (and dimensions without an index)
get an exact scan of their own chunks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from application.ports.knowledge import ChunkScore, ScoredPassage, SearchFilters
from domain.common.ids import ChunkId, DocumentId, TenantId
from domain.knowledge.document import Chunk

# Language code → the Snowball text search configuration of stock PostgreSQL (all 28 of them);
# other languages get 'simple' (lower-casing, no stemming, no stop words).
TEXT_SEARCH_CONFIGS = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "da": "danish", "nl": "dutch",
    "en": "english", "fi": "finnish", "fr": "french", "de": "german", "el": "greek", "hi": "hindi",
    "hu": "hungarian", "id": "indonesian", "ga": "irish", "it": "italian", "lt": "lithuanian", "ne": "nepali",
    "no": "norwegian", "nb": "norwegian", "nn": "norwegian", "pt": "portuguese", "ro": "romanian",
    "ru": "russian", "sr": "serbian", "es": "spanish", "sv": "swedish", "ta": "tamil", "tr": "turkish",
    "yi": "yiddish",
}  # fmt: skip
# Dimensions with a partial HNSW index in migration 0004.
INDEXED_DIMENSIONS = frozenset({384, 1536})


def text_search_config(language: str) -> str:
    return TEXT_SEARCH_CONFIGS.get(language.split("-")[0].split("_")[0].lower(), "simple")


@attrs.frozen
class BM25Parameters:
    # Chosen on the SciFact train split by bench/retrieval.py (train nDCG@10 0.694; Anserini's 0.9 / 0.4: 0.689).
    k1: float = 1.2
    b: float = 0.5


@attrs.frozen
class KeywordSearchLimits:
    # Postings (summed document frequencies) of the lexemes scored in the first round, and at most. Chosen on
    # the SciFact train split: at 500/1000 the top 10 equals exhaustive BM25's for 96% of the queries and
    # nDCG@10 is unchanged (bench/retrieval.py prints the agreement on the test split).
    first_round_postings: int = 500
    max_postings: int = 1000
    # Tenants up to this many chunks, and under a quarter of the table, are scanned by primary key.
    tenant_scan_max_chunks: int = 5000


@attrs.frozen
class VectorSearchLimits:
    ef_search: int = 100
    # Tenants up to this many chunks are searched exactly (no HNSW): a few milliseconds, never a missed
    # neighbour. Bigger tenants too, when they are so small a share of the table that the filtered HNSW scan
    # would visit more index entries than the tenant has rows.
    exact_max_chunks: int = 2000


_LOCK_STATS = sa.text(
    "INSERT INTO kb_stats (tenant_id, chunk_count, total_length) VALUES (:tenant, 0, 0)"
    " ON CONFLICT (tenant_id) DO UPDATE SET chunk_count = kb_stats.chunk_count"
)

_REMOVE_CHUNKS = sa.text(
    """
    WITH old AS (
      DELETE FROM chunks WHERE tenant_id = :tenant AND document_id = :document RETURNING tsv, term_count
    ),
    gone AS (
      SELECT lexeme, count(*) AS chunks FROM old CROSS JOIN LATERAL unnest(tsvector_to_array(old.tsv)) AS lexeme
      GROUP BY lexeme ORDER BY lexeme
    ),
    updated AS (
      UPDATE kb_terms SET df = kb_terms.df - gone.chunks FROM gone
      WHERE kb_terms.tenant_id = :tenant AND kb_terms.term = gone.lexeme
      RETURNING kb_terms.term, kb_terms.df
    )
    SELECT (SELECT count(*) FROM old) AS chunk_count,
           (SELECT coalesce(sum(term_count), 0) FROM old) AS total_length,
           (SELECT coalesce(array_agg(term), '{}') FROM updated WHERE df <= 0) AS unused_terms
    """
)

_DROP_TERMS = sa.text("DELETE FROM kb_terms WHERE tenant_id = :tenant AND term = ANY(:terms) AND df <= 0")

_ADJUST_STATS = sa.text(
    "UPDATE kb_stats SET chunk_count = chunk_count + :chunks, total_length = total_length + :length"
    " WHERE tenant_id = :tenant"
)

_INSERT_CHUNKS = sa.text(
    """
    INSERT INTO chunks (tenant_id, id, document_id, ordinal, text, token_count, page, heading_path, ts_config,
                        embedding_model, embedding_dim, embedding)
    SELECT :tenant, c.id, :document, c.ordinal, c.text, c.token_count, c.page,
           ARRAY(SELECT jsonb_array_elements_text(c.heading_path::jsonb)), CAST(:config AS regconfig),
           c.model, c.dim, CAST(c.embedding AS vector)
    FROM unnest(CAST(:ids AS uuid[]), CAST(:ordinals AS integer[]), CAST(:texts AS text[]),
                CAST(:token_counts AS integer[]), CAST(:pages AS integer[]), CAST(:heading_paths AS text[]),
                CAST(:models AS text[]), CAST(:dims AS integer[]), CAST(:embeddings AS text[]))
      AS c(id, ordinal, text, token_count, page, heading_path, model, dim, embedding)
    """
)

_ADD_TERMS = sa.text(
    """
    INSERT INTO kb_terms (tenant_id, term, df, max_tf)
    SELECT :tenant, t.lexeme, count(*), max(cardinality(t.positions))
    FROM chunks c CROSS JOIN LATERAL unnest(c.tsv) AS t
    WHERE c.tenant_id = :tenant AND c.document_id = :document
    GROUP BY t.lexeme ORDER BY t.lexeme
    ON CONFLICT (tenant_id, term) DO UPDATE
      SET df = kb_terms.df + excluded.df, max_tf = greatest(kb_terms.max_tf, excluded.max_tf)
    """
)

_DOCUMENT_TOTALS = sa.text(
    "SELECT count(*) AS chunks, coalesce(sum(term_count), 0) AS length FROM chunks"
    " WHERE tenant_id = :tenant AND document_id = :document"
)

_QUERY_TERMS = sa.text(
    """
    SELECT q.term, t.df, t.max_tf, s.chunk_count, s.total_length,
           (SELECT reltuples FROM pg_class WHERE oid = 'chunks'::regclass) AS table_rows
    FROM kb_stats s
    CROSS JOIN (SELECT DISTINCT lexeme AS term FROM unnest(to_tsvector(CAST(:config AS regconfig), :query))) q
    LEFT JOIN kb_terms t ON t.tenant_id = s.tenant_id AND t.term = q.term
    WHERE s.tenant_id = :tenant
    """
)

_TENANT_SIZE = sa.text(
    "SELECT s.chunk_count, (SELECT reltuples FROM pg_class WHERE oid = 'chunks'::regclass) AS table_rows"
    " FROM kb_stats s WHERE s.tenant_id = :tenant"
)

# tf of each query lexeme in a chunk: mark the query's lexemes with weight A, keep only those, unnest them.
_TERM_FREQUENCIES = (
    "SELECT u.lexeme, cardinality(u.positions) AS tf"
    " FROM unnest(ts_filter(setweight({chunk}.tsv, 'A', {terms}), '{{a}}')) AS u"
)
_BM25 = "w.idf * f.tf * ({k1} + 1) / (f.tf + {k1} * {norm})"
# BM25's length normalisation of a chunk: 1 - b + b·len/avglen.
_NORM = "(1 - {b} + {b} * {chunk}.term_count / {avgdl})"

# BM25 of the chunks matching a tsquery, scored where they are found (migration 0007).
_KEYWORD_SCORES = sa.text(
    "SELECT id, score FROM metachat_keyword_scores(CAST(:tenant AS uuid), CAST(:match AS tsquery),"
    " CAST(:own_rows AS boolean), CAST(:cap AS integer), CAST(:lexemes AS text[]), CAST(:idfs AS float8[]),"
    " CAST(:k1 AS float8), CAST(:b AS float8), CAST(:average_length AS float8),"
    " CAST(:filter_documents AS uuid[]), CAST(:filter_tags AS text[]), CAST(:limit AS integer))"
)

_FILTER = (
    " AND c.document_id IN (SELECT d.id FROM documents d WHERE d.tenant_id = :tenant"
    " AND (cardinality(CAST(:filter_documents AS uuid[])) = 0 OR d.id = ANY(CAST(:filter_documents AS uuid[])))"
    " AND (cardinality(CAST(:filter_tags AS text[])) = 0 OR d.tags && CAST(:filter_tags AS text[])))"
)


@attrs.frozen
class _QueryTerm:
    lexeme: str
    df: int
    idf: float
    max_tf: int
    # The most the lexeme can add to any chunk's score (its highest tf, in the shortest possible chunk).
    bound: float


class PostgresKnowledgeIndex:
    def __init__(
        self,
        connection: AsyncConnection,
        *,
        bm25: BM25Parameters | None = None,
        keyword_limits: KeywordSearchLimits | None = None,
        vector_limits: VectorSearchLimits | None = None,
    ) -> None:
        self._connection = connection
        self._bm25 = bm25 or BM25Parameters()
        self._keyword = keyword_limits or KeywordSearchLimits()
        self._vector = vector_limits or VectorSearchLimits()

    # Writing -------------------------------------------------------------------------------------------

    async def replace_chunks(
        self, tenant_id: TenantId, document_id: DocumentId, chunks: Sequence[Chunk], language: str
    ) -> None:
        # The tenant's statistics row is locked first, by every writer: a tenant's indexers take turns on
        # kb_terms instead of deadlocking on each other's lexemes.
        await self._connection.execute(_LOCK_STATS, {"tenant": tenant_id})
        await self._remove(tenant_id, document_id)
        if not chunks:
            return
        await self._connection.execute(
            _INSERT_CHUNKS,
            {
                "tenant": tenant_id,
                "document": document_id,
                "config": text_search_config(language),
                "ids": [chunk.id for chunk in chunks],
                "ordinals": [chunk.ordinal for chunk in chunks],
                "texts": [chunk.text for chunk in chunks],
                "token_counts": [chunk.token_count for chunk in chunks],
                "pages": [chunk.page for chunk in chunks],
                "heading_paths": [_json_list(chunk.heading_path) for chunk in chunks],
                "models": [chunk.embedding_model for chunk in chunks],
                "dims": [len(chunk.embedding) for chunk in chunks],
                "embeddings": [_vector_literal(chunk.embedding) for chunk in chunks],
            },
        )
        await self._connection.execute(_ADD_TERMS, {"tenant": tenant_id, "document": document_id})
        totals = (
            await self._connection.execute(_DOCUMENT_TOTALS, {"tenant": tenant_id, "document": document_id})
        ).one()
        await self._connection.execute(
            _ADJUST_STATS, {"tenant": tenant_id, "chunks": totals.chunks, "length": totals.length}
        )

    async def delete_chunks(self, tenant_id: TenantId, document_id: DocumentId) -> int:
        await self._connection.execute(_LOCK_STATS, {"tenant": tenant_id})
        return await self._remove(tenant_id, document_id)

    async def _remove(self, tenant_id: TenantId, document_id: DocumentId) -> int:
        removed = (await self._connection.execute(_REMOVE_CHUNKS, {"tenant": tenant_id, "document": document_id})).one()
        if not removed.chunk_count:
            return 0
        if removed.unused_terms:
            await self._connection.execute(_DROP_TERMS, {"tenant": tenant_id, "terms": removed.unused_terms})
        await self._connection.execute(
            _ADJUST_STATS,
            {"tenant": tenant_id, "chunks": -removed.chunk_count, "length": -removed.total_length},
        )
        return int(removed.chunk_count)

    # Keyword leg ---------------------------------------------------------------------------------------

    async def keyword_candidates(
        self, tenant_id: TenantId, query: str, language: str, limit: int, filters: SearchFilters
    ) -> list[ChunkScore]:
        rows = (
            await self._connection.execute(
                _QUERY_TERMS, {"tenant": tenant_id, "config": text_search_config(language), "query": query}
            )
        ).all()
        if not rows or not rows[0].chunk_count:
            return []
        chunk_count = float(rows[0].chunk_count)
        average_length = max(1.0, rows[0].total_length / chunk_count)
        scan_tenant = chunk_count <= self._keyword.tenant_scan_max_chunks and chunk_count * 4 < float(
            rows[0].table_rows
        )
        terms = sorted(
            (self._query_term(row.term, row.df, row.max_tf, chunk_count) for row in rows if row.df),
            key=lambda term: (term.df, term.lexeme),
        )
        if not terms:
            return []
        if terms[0].df > self._keyword.max_postings:
            # Even the rarest word is too common to score all its chunks: score (up to the budget) the chunks with
            # the rarest word and another query word, or with the only word. GIN drives that intersection from
            # the rarest word's postings (the OR of pairs of common words would read every posting list).
            match = _quoted(terms[0].lexeme) + (f" & ({_or_query(terms[1:])})" if len(terms) > 1 else "")
            return await self._score_round(
                tenant_id, terms, average_length, match, limit, filters, scan_tenant, cap=self._keyword.max_postings
            )
        scored: dict[ChunkId, float] = {}
        searched: list[_QueryTerm] = []
        remaining = list(terms)
        postings = 0
        budget = self._keyword.first_round_postings
        while remaining:
            # Rarest first; at least one lexeme per round, whatever its frequency.
            batch = [remaining.pop(0)]
            while remaining and postings + sum(term.df for term in batch) + remaining[0].df <= budget:
                batch.append(remaining.pop(0))
            if searched:
                # Past the budget the ranking stays as it is: BM25 over the most selective lexemes' chunks.
                while batch and postings + sum(term.df for term in batch) > self._keyword.max_postings:
                    remaining.insert(0, batch.pop())
                if not batch:
                    break
            postings += sum(term.df for term in batch)
            match = _or_query(batch)
            if searched:
                match = f"({match}) & !({_or_query(searched)})"
            for hit in await self._score_round(tenant_id, terms, average_length, match, limit, filters, scan_tenant):
                scored[hit.chunk_id] = hit.score
            searched.extend(batch)
            threshold = _kth_best(scored, limit)
            if sum(term.bound for term in remaining) <= threshold:
                break
            # Next round: just enough of the next rarest lexemes to bring the bound under the threshold.
            budget = postings
            bound = sum(term.bound for term in remaining)
            for term in remaining:
                budget += term.df
                bound -= term.bound
                if bound <= threshold:
                    break
        best = sorted(scored.items(), key=lambda item: (-item[1], str(item[0])))[:limit]
        return [ChunkScore(chunk_id, score) for chunk_id, score in best]

    def _query_term(self, lexeme: str, df: int, max_tf: int, chunk_count: float) -> _QueryTerm:
        k1, b = self._bm25.k1, self._bm25.b
        idf = math.log(1.0 + (chunk_count - df + 0.5) / (df + 0.5))
        # The most one occurrence count can add: tf at its maximum in the shortest possible chunk.
        bound = idf * (k1 + 1) * max_tf / (max_tf + k1 * (1 - b))
        return _QueryTerm(lexeme, df, idf, max_tf, bound)

    async def _score_round(
        self,
        tenant_id: TenantId,
        terms: list[_QueryTerm],
        average_length: float,
        match: str,
        limit: int,
        filters: SearchFilters,
        scan_tenant: bool,
        cap: int | None = None,
    ) -> list[ChunkScore]:
        """BM25 (all query terms) of the chunks matching `match`, or of the first `cap` of them."""
        rows = await self._connection.execute(
            _KEYWORD_SCORES,
            {
                "tenant": tenant_id,
                "match": match,
                "own_rows": scan_tenant,
                "cap": cap,
                "lexemes": [term.lexeme for term in terms],
                "idfs": [term.idf for term in terms],
                "k1": self._bm25.k1,
                "b": self._bm25.b,
                "average_length": average_length,
                "filter_documents": list(filters.document_ids),
                "filter_tags": list(filters.tags),
                "limit": limit,
            },
        )
        return [ChunkScore(ChunkId(row.id), float(row.score)) for row in rows]

    def _bm25_sql(self, chunk: str, average_length: str) -> str:
        norm = _NORM.format(b=repr(self._bm25.b), chunk=chunk, avgdl=average_length)
        return _BM25.format(k1=repr(self._bm25.k1), norm=norm)

    # Vector leg ----------------------------------------------------------------------------------------

    async def vector_candidates(
        self, tenant_id: TenantId, embedding: Sequence[float], model: str, limit: int, filters: SearchFilters
    ) -> list[ChunkScore]:
        size = (await self._connection.execute(_TENANT_SIZE, {"tenant": tenant_id})).one_or_none()
        if size is None or not size.chunk_count:
            return []
        dimension = len(embedding)
        parameters = {
            "tenant": tenant_id,
            "model": model,
            "query": list(embedding),
            "limit": limit,
            **_filter_parameters(filters),
        }
        filter_sql = _FILTER if _has(filters) else ""
        share = max(size.chunk_count / max(float(size.table_rows), 1.0), 1e-6)
        # Index entries the filtered HNSW scan visits to find `limit` of the tenant's rows, with margin.
        expected_scan = 4 * limit / share
        exact = size.chunk_count <= self._vector.exact_max_chunks or expected_scan > size.chunk_count
        if dimension not in INDEXED_DIMENSIONS or exact:
            # The ORDER BY does not match the index expression, so this is an exact scan of the tenant.
            statement = sa.text(  # only constants and an int dimension are interpolated
                f"SELECT c.id, 1 - (c.embedding <=> {_as_vector('query')}) AS similarity FROM chunks c"  # noqa: S608
                f" WHERE c.tenant_id = :tenant AND c.embedding_model = :model AND c.embedding_dim = {dimension}"
                f"{filter_sql} ORDER BY c.embedding <=> {_as_vector('query')}, c.id LIMIT :limit"
            )
        else:
            max_scan = int(min(1_000_000, max(20_000, expected_scan)))
            await self._connection.execute(
                sa.text(
                    "SELECT set_config('hnsw.ef_search', :ef, true),"
                    " set_config('hnsw.iterative_scan', 'relaxed_order', true),"
                    " set_config('hnsw.max_scan_tuples', :max_scan, true)"
                ),
                {"ef": str(max(self._vector.ef_search, limit)), "max_scan": str(max_scan)},
            )
            # relaxed_order may return neighbours slightly out of order: the outer query sorts them.
            cast = f"vector({dimension})"
            statement = sa.text(  # only constants and an int dimension are interpolated
                "SELECT id, 1 - distance AS similarity FROM ("  # noqa: S608
                f" SELECT c.id, c.embedding::{cast} <=> {_as_vector('query', cast)} AS distance"
                f" FROM chunks c WHERE c.tenant_id = :tenant AND c.embedding_dim = {dimension}"
                f" AND c.embedding_model = :model{filter_sql}"
                f" ORDER BY c.embedding::{cast} <=> {_as_vector('query', cast)} LIMIT :limit"
                ") AS nearest ORDER BY distance, id"
            )
        rows = await self._connection.execute(statement, parameters)
        return [ChunkScore(ChunkId(row.id), float(row.similarity)) for row in rows]

    # Both scores of given chunks -------------------------------------------------------------------------

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
        if not chunk_ids:
            return []
        dimension = len(embedding) if embedding is not None else 0
        vector_sql = (
            f"CASE WHEN c.embedding_model = :model AND c.embedding_dim = {dimension}"
            f" THEN 1 - (c.embedding <=> {_as_vector('query_vector')}) END"
            if embedding is not None
            else "NULL::float8"
        )
        statement = sa.text(  # only constants and an int dimension are interpolated
            "WITH s AS (SELECT chunk_count::float8 AS n,"  # noqa: S608
            " greatest(total_length::float8 / greatest(chunk_count, 1), 1) AS avgdl"
            " FROM kb_stats WHERE tenant_id = :tenant),"
            " q AS (SELECT DISTINCT lexeme AS term FROM unnest(to_tsvector(CAST(:config AS regconfig), :query))),"
            " w AS (SELECT t.term, ln(1 + (s.n - t.df + 0.5) / (t.df + 0.5)) AS idf FROM kb_terms t"
            " JOIN q ON q.term = t.term CROSS JOIN s WHERE t.tenant_id = :tenant AND t.df > 0),"
            " terms AS (SELECT coalesce(array_agg(term), '{}') AS list FROM w)"
            " SELECT c.id, c.document_id, c.text, c.page, c.heading_path, d.title, d.filename, d.source_url,"
            f" coalesce((SELECT sum({self._bm25_sql('c', 's.avgdl')}) FROM"
            f" ({_TERM_FREQUENCIES.format(chunk='c', terms='terms.list')}) AS f JOIN w ON w.term = f.lexeme), 0)"
            f" AS keyword_score, {vector_sql} AS vector_score"
            " FROM chunks c CROSS JOIN LATERAL (SELECT d.title, d.filename, d.source_url FROM documents d"
            " WHERE d.tenant_id = c.tenant_id AND d.id = c.document_id LIMIT 1) AS d"
            " CROSS JOIN terms LEFT JOIN s ON true"
            " WHERE c.tenant_id = :tenant AND c.id = ANY(CAST(:ids AS uuid[]))"
        )
        parameters: dict[str, Any] = {
            "tenant": tenant_id,
            "ids": list(chunk_ids),
            "config": text_search_config(language),
            "query": query,
        }
        if embedding is not None:
            parameters |= {"model": model, "query_vector": list(embedding)}
        rows = await self._connection.execute(statement, parameters)
        return [
            ScoredPassage(
                chunk_id=ChunkId(row.id),
                document_id=DocumentId(row.document_id),
                text=row.text,
                page=row.page,
                heading_path=tuple(row.heading_path),
                document_title=row.title,
                filename=row.filename,
                source_url=row.source_url,
                keyword_score=float(row.keyword_score),
                vector_score=None if row.vector_score is None else float(row.vector_score),
            )
            for row in rows
        ]


def _or_query(terms: Sequence[_QueryTerm]) -> str:
    return " | ".join(_quoted(term.lexeme) for term in terms)


def _quoted(lexeme: str) -> str:
    # tsquery literal syntax: a quoted lexeme with quotes doubled and backslashes escaped.
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def _kth_best(scored: dict[ChunkId, float], k: int) -> float:
    if len(scored) < k:
        return 0.0
    return sorted(scored.values(), reverse=True)[k - 1]


def _as_vector(parameter: str, vector_type: str = "vector") -> str:
    """SQL for a query vector bound as `parameter`. It travels as a float4 array, which the driver sends in
    binary: written out as text, a 1536-d vector costs ~0.7 ms of client CPU (the shortest repr of each float)."""
    return f"CAST(CAST(:{parameter} AS real[]) AS {vector_type})"


def _has(filters: SearchFilters) -> bool:
    return bool(filters.document_ids or filters.tags)


def _filter_parameters(filters: SearchFilters) -> dict[str, Any]:
    if not _has(filters):
        return {}
    return {"filter_documents": list(filters.document_ids), "filter_tags": list(filters.tags)}


def _vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(value)) for value in vector) + "]"


def _json_list(values: Sequence[str]) -> str:
    return json.dumps(list(values), ensure_ascii=False)
