"""PostgresKnowledgeIndex: the pruned BM25 leg equals an exhaustive BM25 computed here, both vector paths
agree, filters and tenants are respected, small tenants in a big table get their own results."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.postgres.repositories.knowledge_index import (
    BM25Parameters,
    KeywordSearchLimits,
    PostgresKnowledgeIndex,
    VectorSearchLimits,
    text_search_config,
)
from adapters.postgres.unit_of_work import PostgresUnitOfWorkFactory
from application.ports.knowledge import ChunkScore, SearchFilters
from domain.common.ids import ChunkId, DocumentId, TenantId
from tests.fakes.knowledge import HashingEmbedder
from tests.support.channels import store_tenant
from tests.support.knowledge import store_indexed_document
from tests.support.services import asyncpg_dsn

WORDS = [
    "refund",
    "shipping",
    "invoice",
    "receipt",
    "parcel",
    "courier",
    "warranty",
    "repair",
    "battery",
    "charger",
    "screen",
    "keyboard",
    "account",
    "password",
    "login",
    "email",
    "address",
    "delivery",
    "return",
    "exchange",
    "discount",
    "coupon",
    "voucher",
    "order",
    "payment",
    "card",
    "bank",
    "transfer",
    "subscription",
    "plan",
    "upgrade",
    "downgrade",
    "cancel",
    "renewal",
]
EMBEDDER = HashingEmbedder()


async def add_document(
    uow_factory: PostgresUnitOfWorkFactory, tenant_id: TenantId, texts: Sequence[str], tags: tuple[str, ...] = ()
) -> tuple[DocumentId, list[ChunkId]]:
    return await store_indexed_document(uow_factory, tenant_id, "Doc", texts, EMBEDDER, tags)


def random_texts(count: int, seed: int) -> list[str]:
    generator = random.Random(seed)
    # Zipf-like: a few words in most chunks, most words in few, repeated words for tf > 1.
    weights = [1 / (rank + 1) for rank in range(len(WORDS))]
    return [" ".join(generator.choices(WORDS, weights=weights, k=generator.randint(5, 40))) for _ in range(count)]


async def reference_bm25(database_url: str, tenant_id: TenantId, query: str, k: int) -> list[tuple[ChunkId, float]]:
    """Exhaustive BM25 in Python over the lexemes Postgres extracted (same stemming, same stop words)."""
    parameters = BM25Parameters()
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT c.id, c.term_count, t.lexeme, cardinality(t.positions) AS tf"
            " FROM chunks c CROSS JOIN LATERAL unnest(c.tsv) t WHERE c.tenant_id = $1",
            tenant_id,
        )
        lengths = dict(await connection.fetch("SELECT id, term_count FROM chunks WHERE tenant_id = $1", tenant_id))
        terms = {
            row["lexeme"]
            for row in await connection.fetch("SELECT lexeme FROM unnest(to_tsvector('english', $1))", query)
        }
    finally:
        await connection.close()
    frequencies: dict[object, dict[str, int]] = defaultdict(dict)
    for row in rows:
        frequencies[row["id"]][row["lexeme"]] = row["tf"]
    count = len(lengths)
    average = sum(lengths.values()) / count
    df = Counter(lexeme for lexemes in frequencies.values() for lexeme in lexemes)
    scores = {}
    for chunk_id, lexemes in frequencies.items():
        score = 0.0
        for term in terms & lexemes.keys():
            idf = math.log(1 + (count - df[term] + 0.5) / (df[term] + 0.5))
            tf = lexemes[term]
            norm = 1 - parameters.b + parameters.b * lengths[chunk_id] / average
            score += idf * tf * (parameters.k1 + 1) / (tf + parameters.k1 * norm)
        if score > 0:
            scores[ChunkId(chunk_id)] = score
    return sorted(scores.items(), key=lambda item: (-item[1], str(item[0])))[:k]


@asynccontextmanager
async def tenant_connection(engine: AsyncEngine, tenant_id: TenantId) -> AsyncIterator[AsyncConnection]:
    """A connection scoped to one tenant the way the unit of work scopes it (settings for row-level security)."""
    async with engine.connect() as connection:
        await connection.execute(
            sa.text("SELECT set_config('app.tenant_id', :tenant, false)"), {"tenant": str(tenant_id)}
        )
        yield connection


async def keyword(
    engine: AsyncEngine, tenant_id: TenantId, query: str, k: int, limits: KeywordSearchLimits | None = None
) -> list[ChunkScore]:
    async with tenant_connection(engine, tenant_id) as connection:
        index = PostgresKnowledgeIndex(connection, keyword_limits=limits)
        return await index.keyword_candidates(tenant_id, query, "en", k, SearchFilters())


QUERIES = [
    "refund for my order",
    "how do I cancel the subscription renewal",
    "battery charger warranty repair",
    "bank transfer payment card coupon voucher discount",
    "password",
]


async def test_the_pruned_keyword_leg_returns_exact_bm25(
    database_url: str, engine: AsyncEngine, uow_factory: PostgresUnitOfWorkFactory
) -> None:
    tenant = await store_tenant(uow_factory, "Tenant")
    texts = random_texts(120, seed=1)
    for start in range(0, len(texts), 10):
        await add_document(uow_factory, tenant, texts[start : start + 10])
    for query in QUERIES:
        expected = await reference_bm25(database_url, tenant, query, 10)
        assert expected, query
        # Default limits, and a one-posting first round that forces several MaxScore rounds.
        for limits in (None, KeywordSearchLimits(first_round_postings=1, max_postings=10**9)):
            found = await keyword(engine, tenant, query, 10, limits)
            assert [hit.chunk_id for hit in found] == [chunk_id for chunk_id, _ in expected], query
            assert [hit.score for hit in found] == pytest.approx([score for _, score in expected]), query


async def test_past_the_budget_the_rarest_words_choose_the_candidates(
    engine: AsyncEngine, uow_factory: PostgresUnitOfWorkFactory
) -> None:
    tenant = await store_tenant(uow_factory, "Tenant")
    common = [f"order payment order payment number {index}" for index in range(30)]
    await add_document(uow_factory, tenant, [*common, "zeppelin order payment"])
    found = await keyword(
        engine, tenant, "zeppelin order payment", 5, KeywordSearchLimits(first_round_postings=1, max_postings=5)
    )
    # "zeppelin" alone fits the budget: its chunk is scored (with all three words) and ranked.
    assert len(found) == 1
    assert found[0].score > 0
    tight = KeywordSearchLimits(first_round_postings=1, max_postings=5)
    # Every word is over the budget: only chunks with the rarest word and another are candidates, at most 5.
    both = await keyword(engine, tenant, "order payment banana", 10, tight)
    assert 0 < len(both) <= 5
    single = await keyword(engine, tenant, "payment", 10, tight)
    assert 0 < len(single) <= 5


async def test_both_vector_paths_agree_and_skip_other_models(
    engine: AsyncEngine, uow_factory: PostgresUnitOfWorkFactory
) -> None:
    tenant = await store_tenant(uow_factory, "Tenant")
    texts = random_texts(60, seed=2)
    await add_document(uow_factory, tenant, texts)
    [query] = await EMBEDDER.embed(["refund shipping receipt"])
    results = []
    for exact_max_chunks in (10**6, 0):
        async with tenant_connection(engine, tenant) as connection:
            index = PostgresKnowledgeIndex(
                connection, vector_limits=VectorSearchLimits(exact_max_chunks=exact_max_chunks)
            )
            results.append(await index.vector_candidates(tenant, query, EMBEDDER.model_name, 5, SearchFilters()))
            assert await index.vector_candidates(tenant, query, "another-model", 5, SearchFilters()) == []
    exact, approximate = results
    assert [hit.chunk_id for hit in approximate] == [hit.chunk_id for hit in exact]
    assert [hit.score for hit in approximate] == pytest.approx([hit.score for hit in exact], abs=1e-5)
    assert exact[0].score == pytest.approx(
        max(sum(a * b for a, b in zip(query, vector, strict=True)) for vector in await EMBEDDER.embed(texts)), abs=1e-5
    )


async def test_filters_and_tenants_are_respected(engine: AsyncEngine, uow_factory: PostgresUnitOfWorkFactory) -> None:
    tenant = await store_tenant(uow_factory, "Tenant")
    other = await store_tenant(uow_factory, "Tenant")
    manual, manual_chunks = await add_document(
        uow_factory, tenant, ["battery warranty for the charger"], tags=("manual",)
    )
    faq, _ = await add_document(uow_factory, tenant, ["battery replacement costs"], tags=("faq",))
    _, foreign_chunks = await add_document(uow_factory, other, ["battery warranty for the charger"])
    [query] = await EMBEDDER.embed(["battery warranty"])
    async with uow_factory(tenant) as uow:
        index = uow.knowledge
        everything = await index.keyword_candidates(tenant, "battery", "en", 10, SearchFilters())
        assert len(everything) == 2
        tagged = await index.keyword_candidates(tenant, "battery", "en", 10, SearchFilters(tags=("manual",)))
        assert [hit.chunk_id for hit in tagged] == manual_chunks
        by_id = await index.vector_candidates(
            tenant, query, EMBEDDER.model_name, 10, SearchFilters(document_ids=(faq,))
        )
        assert len(by_id) == 1
        assert by_id[0].chunk_id not in manual_chunks
        both = SearchFilters(document_ids=(faq,), tags=("manual",))
        assert await index.keyword_candidates(tenant, "battery", "en", 10, both) == []
        # Another tenant's chunk ids give nothing, even asked for directly.
        assert (
            await index.passages(
                tenant, foreign_chunks, query="battery", language="en", embedding=query, model=EMBEDDER.model_name
            )
            == []
        )
        [passage] = await index.passages(
            tenant, manual_chunks, query="battery", language="en", embedding=query, model=EMBEDDER.model_name
        )
        assert passage.document_id == manual
        keyword_scores = {hit.chunk_id: hit.score for hit in everything}
        assert passage.keyword_score == pytest.approx(keyword_scores[manual_chunks[0]])
        assert passage.vector_score is not None


async def test_a_small_tenant_in_a_big_table_gets_its_own_top_results(
    database_url: str, engine: AsyncEngine, uow_factory: PostgresUnitOfWorkFactory
) -> None:
    big = await store_tenant(uow_factory, "Tenant")
    small = await store_tenant(uow_factory, "Tenant")
    texts = random_texts(400, seed=3)
    for start in range(0, len(texts), 50):
        await add_document(uow_factory, big, texts[start : start + 50])
    _, own = await add_document(uow_factory, small, ["refund policy for damaged parcels", "courier pickup times"])
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        # With fresh statistics the small tenant is scanned through its own rows, not the shared GIN index.
        await connection.execute("ANALYZE chunks")
    finally:
        await connection.close()
    [query] = await EMBEDDER.embed(["refund parcel courier"])
    async with tenant_connection(engine, small) as connection:
        index = PostgresKnowledgeIndex(connection, vector_limits=VectorSearchLimits(exact_max_chunks=0))
        keyword_hits = await index.keyword_candidates(small, "refund parcel courier", "en", 5, SearchFilters())
        vector_hits = await index.vector_candidates(small, query, EMBEDDER.model_name, 5, SearchFilters())
    assert {hit.chunk_id for hit in keyword_hits} == set(own)
    assert {hit.chunk_id for hit in vector_hits} == set(own)


async def test_the_match_function_refuses_another_tenants_chunks(uow_factory: PostgresUnitOfWorkFactory) -> None:
    tenant = await store_tenant(uow_factory, "Tenant")
    other = await store_tenant(uow_factory, "Tenant")
    await add_document(uow_factory, other, ["battery warranty"])
    async with uow_factory(tenant) as uow:
        # Row-level security hides the other tenant's statistics, so the search finds nothing…
        assert await uow.knowledge.keyword_candidates(other, "battery", "en", 5, SearchFilters()) == []
        # …and the match function, which runs past row-level security, checks the tenant itself.
        with pytest.raises(DBAPIError, match="chunks of another tenant"):
            await uow.connection.execute(
                sa.text(
                    "SELECT * FROM metachat_keyword_scores(:other, 'battery', false, NULL, '{battery}', '{1}',"
                    " 1.2, 0.5, 10, '{}', '{}', 5)"
                ),
                {"other": other},
            )


def test_languages_map_to_text_search_configurations() -> None:
    assert text_search_config("en") == "english"
    assert text_search_config("pt-BR") == "portuguese"
    assert text_search_config("es_MX") == "spanish"
    assert text_search_config("ja") == "simple"
