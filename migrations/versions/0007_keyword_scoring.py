"""Keyword leg scored where the candidates are found: one function reads the matching chunks and returns their
BM25 scores, instead of returning ids that the query then looked up again by primary key (under the row-level
security policy, checked per row) to read their tsvectors. At 100k chunks that second lookup was about a third
of a keyword round's time.

Like `metachat_matching_chunks`, which it replaces, the function runs as the tables' owner, past the policy
(under it Postgres never uses the GIN index for `@@`), and enforces the same rule itself. Its query is planned
for each call (EXECUTE), so the planner sees the actual tsquery and filters; `own_rows` reads a small tenant
through its own rows instead of the shared GIN index.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from adapters.postgres.migrations import execute_script

revision: str = "0007"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
-- BM25 (Lucene's formula, over `lexemes` with their `idfs`) of `tenant`'s chunks matching `query`: of all of them,
-- or of the first `cap` when cap is not null; the best `result_limit`. Empty filter arrays filter nothing.
CREATE FUNCTION metachat_keyword_scores(
  tenant uuid, query tsquery, own_rows boolean, cap integer,
  lexemes text[], idfs float8[], k1 float8, b float8, average_length float8,
  filter_documents uuid[], filter_tags text[], result_limit integer
)
RETURNS TABLE (id uuid, score float8)
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
  RETURN QUERY EXECUTE format($query$
    WITH candidates AS (
      SELECT c.id, c.tsv, c.term_count FROM chunks c
      WHERE c.tenant_id = $1 AND %s
        AND (cardinality($10) = 0 AND cardinality($11) = 0 OR c.document_id IN (
          SELECT d.id FROM documents d WHERE d.tenant_id = $1
            AND (cardinality($10) = 0 OR d.id = ANY($10)) AND (cardinality($11) = 0 OR d.tags && $11)))
      LIMIT $4
    ),
    weights AS (SELECT * FROM unnest($5, $6) AS w(term, idf))
    SELECT c.id, sum(w.idf * f.tf * ($7 + 1) / (f.tf + $7 * (1 - $8 + $8 * c.term_count / $9))) AS score
    FROM candidates c
    -- tf of each query lexeme in the chunk: mark the query's lexemes with weight A, keep only those.
    CROSS JOIN LATERAL (
      SELECT u.lexeme, cardinality(u.positions)::float8 AS tf FROM unnest(ts_filter(setweight(c.tsv, 'A', $5), '{a}')) u
    ) f
    JOIN weights w ON w.term = f.lexeme
    GROUP BY c.id ORDER BY score DESC, c.id LIMIT $12
  $query$, CASE WHEN own_rows THEN '(c.tsv @@ $2) IS TRUE' ELSE 'c.tsv @@ $2' END)
  USING tenant, query, own_rows, cap, lexemes, idfs, k1, b, average_length, filter_documents, filter_tags,
        result_limit;
END
$fn$;

DROP FUNCTION metachat_matching_chunks(uuid, tsquery, boolean, integer);
"""

DOWNGRADE = r"""
DROP FUNCTION metachat_keyword_scores(
  uuid, tsquery, boolean, integer, text[], float8[], float8, float8, float8, uuid[], text[], integer
);
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
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
