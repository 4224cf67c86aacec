"""Meta channels: the webhook inbox (one row per provider event, deduplicated by its provider key) and
the indexes inbound processing needs.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from adapters.postgres.migrations import execute_script

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
CREATE TABLE inbox (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  channel_id uuid NOT NULL,
  kind text NOT NULL,
  provider_event_key text NOT NULL,
  contact_id text NOT NULL DEFAULT '',
  payload jsonb NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'processed', 'ignored')),
  outcome text NOT NULL DEFAULT '',
  message_id uuid,
  processed_at timestamptz,
  CONSTRAINT pk_inbox PRIMARY KEY (tenant_id, id),
  -- Meta redelivers and batches freely: this key is what makes a second copy a no-op.
  CONSTRAINT uq_inbox_tenant_id_channel_id_provider_event_key UNIQUE (tenant_id, channel_id, provider_event_key),
  CONSTRAINT fk_inbox_channel FOREIGN KEY (tenant_id, channel_id)
    REFERENCES channels (tenant_id, id) ON DELETE CASCADE
);
-- Entries still waiting (a sweeper or an operator replays them after an outage).
CREATE INDEX ix_inbox_pending ON inbox (received_at) WHERE state = 'pending';

-- Statuses and echoes look outbound messages up by the provider's id within one channel.
CREATE INDEX ix_messages_channel_provider_id ON messages (tenant_id, channel_id, provider_message_id)
  WHERE provider_message_id IS NOT NULL;

SELECT metachat_enable_tenant_rls('inbox');
"""

DOWNGRADE = r"""
DROP INDEX IF EXISTS ix_messages_channel_provider_id;
DROP TABLE IF EXISTS inbox;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
