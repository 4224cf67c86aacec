"""Pending inbox entries found by contact: before each answer the worker asks whether the contact has
other events waiting (a burst gets one reply), and the only index for pending entries was by arrival
time, across all tenants. The question read every pending entry of the platform: 0.3 ms with 2,000
waiting, 5 ms with 50,000, per message, so a backlog (a worker outage, a burst of traffic) drained ever
more slowly. The new index answers it from the contact's own pending entries, tenant first like every
other key. It replaces the arrival-time one, which no query used: one index per webhook row, not two.

Revision ID: 0008
Revises: 0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from adapters.postgres.migrations import execute_script

revision: str = "0008"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
CREATE INDEX ix_inbox_pending_by_contact ON inbox (tenant_id, channel_id, contact_id, received_at)
  WHERE state = 'pending';
DROP INDEX ix_inbox_pending;
"""

DOWNGRADE = r"""
CREATE INDEX ix_inbox_pending ON inbox (received_at) WHERE state = 'pending';
DROP INDEX ix_inbox_pending_by_contact;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
