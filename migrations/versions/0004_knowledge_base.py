"""Knowledge base: uploaded documents, their chunks (text, tsvector, embedding) and the per-tenant term
statistics BM25 needs.

Vectors: pgvector indexes need a fixed dimension, while the platform runs either the local MiniLM model
(384) or an OpenAI model (1536 by default). `chunks.embedding` is an untyped `vector` with its dimension in
`embedding_dim`, and each supported dimension gets a partial HNSW expression index
`((embedding::vector(N))) WHERE embedding_dim = N`. One column serves every model, a new dimension is one
more index (no table rewrite), and a query names the dimension of the model it embedded with, so a
tenant's search never compares vectors of two models (`embedding_model` is filtered on as well).

Keywords: `tsv` is generated from the chunk text with the text search configuration of the tenant's
language (stored per chunk as `ts_config`) and GIN-indexed. BM25 needs what ts_rank lacks — document
frequencies and the average chunk length — so `kb_terms` (df per lexeme) and `kb_stats` (chunk count and
total length) are kept per tenant, updated in the transaction that writes or removes chunks. `term_count`
is the chunk's BM25 length: the number of lexeme occurrences in its tsvector (stop words excluded).

Storage: rows are kept whole up to a full page (toast_tuple_target 8160), so the keyword leg reads a candidate's
tsvector and the exact vector scan its embedding from the heap page, without TOAST lookups or decompression
(measured: both cost several microseconds per row otherwise). A bigger row moves its embedding out of line
first (EXTERNAL: vectors do not compress), the tsvector last (MAIN).

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from adapters.postgres.migrations import execute_script

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
-- Lexeme occurrences in a tsvector: the BM25 length of a chunk.
CREATE FUNCTION metachat_tsvector_length(vector tsvector) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
RETURN (SELECT coalesce(sum(cardinality(positions)), 0)::integer FROM unnest(vector));

CREATE TABLE documents (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  title text NOT NULL,
  filename text NOT NULL,
  format text NOT NULL,
  content_hash text NOT NULL,
  size_bytes bigint NOT NULL,
  storage_key text NOT NULL,
  source_url text NOT NULL DEFAULT '',
  tags text[] NOT NULL DEFAULT '{}',
  chunking text NOT NULL DEFAULT '',
  status text NOT NULL CHECK (status IN ('pending', 'processing', 'ready', 'failed')),
  error text NOT NULL DEFAULT '',
  progress smallint NOT NULL DEFAULT 0,
  chunk_count integer NOT NULL DEFAULT 0,
  page_count integer,
  embedding_model text NOT NULL DEFAULT '',
  -- Every (re)index request bumps index_version and its task carries it; indexed_version is the request
  -- the stored chunks (or the failure) answer. A task older than index_version changes nothing.
  index_version integer NOT NULL DEFAULT 1,
  indexed_version integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pk_documents PRIMARY KEY (tenant_id, id),
  CONSTRAINT uq_documents_tenant_id_content_hash UNIQUE (tenant_id, content_hash)
);
CREATE INDEX ix_documents_created ON documents (tenant_id, created_at, id);
-- Maintenance sweeps across tenants: documents of an old model, documents stuck before `ready`.
CREATE INDEX ix_documents_status ON documents (status, updated_at);

CREATE TABLE chunks (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL,
  document_id uuid NOT NULL,
  ordinal integer NOT NULL,
  text text NOT NULL,
  token_count integer NOT NULL,
  page integer,
  heading_path text[] NOT NULL DEFAULT '{}',
  ts_config regconfig NOT NULL,
  tsv tsvector GENERATED ALWAYS AS (to_tsvector(ts_config, text)) STORED,
  term_count integer GENERATED ALWAYS AS (metachat_tsvector_length(to_tsvector(ts_config, text))) STORED,
  embedding_model text NOT NULL,
  embedding_dim integer NOT NULL,
  embedding vector NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pk_chunks PRIMARY KEY (tenant_id, id),
  CONSTRAINT fk_chunks_document FOREIGN KEY (tenant_id, document_id)
    REFERENCES documents (tenant_id, id) ON DELETE CASCADE,
  CONSTRAINT ck_chunks_embedding_dim CHECK (vector_dims(embedding) = embedding_dim)
);
-- Rows stay whole and uncompressed up to a full page: the keyword leg reads a candidate's tsvector and the
-- exact vector scan its embedding straight from the heap page, without a TOAST lookup or decompression.
-- Only bigger rows (long chunks, 1536-d vectors) give up their embedding (never compressed) or text.
ALTER TABLE chunks SET (toast_tuple_target = 8160);
ALTER TABLE chunks ALTER COLUMN embedding SET STORAGE EXTERNAL, ALTER COLUMN tsv SET STORAGE MAIN;
CREATE INDEX ix_chunks_document ON chunks (tenant_id, document_id, ordinal);
-- No pending list: a query never scans unmerged entries (they cost milliseconds until the next vacuum).
CREATE INDEX ix_chunks_tsv ON chunks USING gin (tsv) WITH (fastupdate = off);
CREATE INDEX ix_chunks_embedding_384 ON chunks USING hnsw ((embedding::vector(384)) vector_cosine_ops)
  WHERE embedding_dim = 384;
CREATE INDEX ix_chunks_embedding_1536 ON chunks USING hnsw ((embedding::vector(1536)) vector_cosine_ops)
  WHERE embedding_dim = 1536;

-- The chunks of `tenant` matching `query` (at most `cap`; all when cap is null), through the GIN index, or with
-- `own_rows` through the tenant's own rows (a tenant small next to the whole table).
-- Why a function: under row-level security Postgres evaluates the policy's qualifier before any operator that
-- is not leakproof, and `@@` is not, so it would never use the GIN index (a 100k-chunk search took 270 ms
-- instead of 5). The function runs as the tables' owner, past the policy, and enforces the same rule itself:
-- only the tenant of the transaction (or platform scope) may be read. The planner settings keep it on the
-- index: with its disk-era default costs it would rather scan the table for an OR of common words.
CREATE FUNCTION metachat_matching_chunks(tenant uuid, query tsquery, own_rows boolean, cap integer)
RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
SET random_page_cost = 1.1
SET enable_seqscan = off
AS $fn$
BEGIN
  IF current_setting('app.bypass_rls', true) IS DISTINCT FROM 'on'
     AND tenant IS DISTINCT FROM nullif(current_setting('app.tenant_id', true), '')::uuid THEN
    RAISE EXCEPTION 'chunks of another tenant' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF own_rows THEN
    RETURN QUERY SELECT c.id FROM chunks c WHERE c.tenant_id = tenant AND (c.tsv @@ query) IS TRUE LIMIT cap;
  ELSE
    RETURN QUERY SELECT c.id FROM chunks c WHERE c.tenant_id = tenant AND c.tsv @@ query LIMIT cap;
  END IF;
END
$fn$;

CREATE TABLE kb_terms (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  term text NOT NULL,
  -- Chunks of the tenant containing the lexeme.
  df integer NOT NULL,
  -- Highest count of the lexeme in one chunk ever seen; it only grows, so it stays an upper bound that
  -- lets the keyword search prove a term cannot lift a chunk into the top results.
  max_tf integer NOT NULL,
  CONSTRAINT pk_kb_terms PRIMARY KEY (tenant_id, term)
);

CREATE TABLE kb_stats (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  chunk_count bigint NOT NULL,
  total_length bigint NOT NULL,
  CONSTRAINT pk_kb_stats PRIMARY KEY (tenant_id)
);
"""

TENANT_TABLES = ("documents", "chunks", "kb_terms", "kb_stats")

DOWNGRADE = r"""
DROP TABLE IF EXISTS kb_stats, kb_terms, chunks, documents CASCADE;
DROP FUNCTION IF EXISTS metachat_matching_chunks(uuid, tsquery, boolean, integer);
DROP FUNCTION IF EXISTS metachat_tsvector_length(tsvector);
"""


def upgrade() -> None:
    execute_script(UPGRADE)
    execute_script("".join(f"SELECT metachat_enable_tenant_rls('{table}');" for table in TENANT_TABLES))


def downgrade() -> None:
    execute_script(DOWNGRADE)
