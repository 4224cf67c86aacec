"""Conversation engine: the reply ledger (one outbound message per idempotency key), tenants' HTTP tools,
the record of tool calls, and the indexes of the conversation API (message full-text search, handoffs
waiting for the idle timer).

Why a ledger table rather than a unique index on messages.idempotency_key: messages is partitioned by
created_at, and Postgres only enforces uniqueness on a partitioned table when the partition key is part of
the index — (tenant_id, idempotency_key, created_at) would let two rows with the same key but different
timestamps coexist, which is exactly the duplicate to prevent. A small unpartitioned table keyed by
(tenant_id, idempotency_key) makes the second claim fail atomically.

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from adapters.postgres.migrations import execute_script

revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
CREATE TABLE outbound_sends (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  idempotency_key text NOT NULL,
  message_id uuid NOT NULL,
  message_created_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pk_outbound_sends PRIMARY KEY (tenant_id, idempotency_key)
);
-- Keys outlive any redelivery by far after a few days; the worker prunes older ones.
CREATE INDEX ix_outbound_sends_created ON outbound_sends (created_at);

CREATE TABLE tenant_tools (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  name text NOT NULL,
  description text NOT NULL,
  parameters jsonb NOT NULL,
  url text NOT NULL,
  secret_encrypted bytea NOT NULL,
  timeout_seconds double precision NOT NULL DEFAULT 10,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pk_tenant_tools PRIMARY KEY (tenant_id, id),
  CONSTRAINT uq_tenant_tools_tenant_id_name UNIQUE (tenant_id, name)
);

CREATE TABLE tool_calls (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  conversation_id uuid NOT NULL,
  message_id uuid NOT NULL,
  iteration smallint NOT NULL,
  call_id text NOT NULL,
  name text NOT NULL,
  arguments jsonb NOT NULL,
  result text NOT NULL,
  ok boolean NOT NULL,
  duration_ms double precision NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pk_tool_calls PRIMARY KEY (tenant_id, id),
  CONSTRAINT fk_tool_calls_conversation FOREIGN KEY (tenant_id, conversation_id)
    REFERENCES conversations (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX ix_tool_calls_conversation ON tool_calls (tenant_id, conversation_id, created_at);

-- Full-text search over message texts ('simple': no stemming, works the same for every tenant language).
CREATE INDEX ix_messages_text_search ON messages USING gin (to_tsvector('simple', text));
-- The idle-release job looks only at conversations a person has.
CREATE INDEX ix_conversations_with_human ON conversations (last_agent_at) WHERE state = 'human';

SELECT metachat_enable_tenant_rls('outbound_sends');
SELECT metachat_enable_tenant_rls('tenant_tools');
SELECT metachat_enable_tenant_rls('tool_calls');
"""

DOWNGRADE = r"""
DROP INDEX IF EXISTS ix_conversations_with_human;
DROP INDEX IF EXISTS ix_messages_text_search;
DROP TABLE IF EXISTS tool_calls, tenant_tools, outbound_sends;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
