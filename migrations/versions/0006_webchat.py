"""Web chat: a per-conversation sequence number on every message, so a widget that reconnects (or a page
that reloads) asks for "everything after N" and gets exactly what it missed, from the database.

A BEFORE INSERT trigger takes the next number from `conversation_sequences`. The counter row stays
locked until the inserting transaction ends, so numbers of one conversation become visible in the
order they were given: a reader that has seen N never later finds a committed message below N.

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from adapters.postgres.migrations import execute_script

revision: str = "0006"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
CREATE TABLE conversation_sequences (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  conversation_id uuid NOT NULL,
  last_seq bigint NOT NULL,
  CONSTRAINT pk_conversation_sequences PRIMARY KEY (tenant_id, conversation_id),
  CONSTRAINT fk_conversation_sequences_conversation FOREIGN KEY (tenant_id, conversation_id)
    REFERENCES conversations (tenant_id, id) ON DELETE CASCADE
);
SELECT metachat_enable_tenant_rls('conversation_sequences');

ALTER TABLE messages ADD COLUMN seq bigint;

-- Messages stored before this revision get their numbers in the order they were created.
WITH numbered AS (
  SELECT tenant_id, id, created_at,
         row_number() OVER (PARTITION BY tenant_id, conversation_id ORDER BY created_at, id) AS seq
  FROM messages
)
UPDATE messages m SET seq = numbered.seq
FROM numbered
WHERE m.tenant_id = numbered.tenant_id AND m.id = numbered.id AND m.created_at = numbered.created_at;
INSERT INTO conversation_sequences (tenant_id, conversation_id, last_seq)
SELECT tenant_id, conversation_id, max(seq) FROM messages GROUP BY tenant_id, conversation_id;

CREATE FUNCTION metachat_assign_message_seq() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF NEW.seq IS NULL THEN
    INSERT INTO conversation_sequences AS counter (tenant_id, conversation_id, last_seq)
    VALUES (NEW.tenant_id, NEW.conversation_id, 1)
    ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET last_seq = counter.last_seq + 1
    RETURNING counter.last_seq INTO NEW.seq;
  END IF;
  RETURN NEW;
END
$fn$;
CREATE TRIGGER messages_assign_seq BEFORE INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION metachat_assign_message_seq();

-- "Everything after N" for one conversation.
CREATE INDEX ix_messages_conversation_seq ON messages (tenant_id, conversation_id, seq);
"""

DOWNGRADE = r"""
DROP INDEX IF EXISTS ix_messages_conversation_seq;
DROP TRIGGER IF EXISTS messages_assign_seq ON messages;
DROP FUNCTION IF EXISTS metachat_assign_message_seq();
ALTER TABLE messages DROP COLUMN IF EXISTS seq;
DROP TABLE IF EXISTS conversation_sequences;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
