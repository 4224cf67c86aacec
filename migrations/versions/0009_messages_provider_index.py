"""One index for finding a message by the provider's id, not two: statuses and echoes look messages up by
(tenant, channel, provider id), which the partial index of revision 0003 answers; the older
(tenant_id, provider_message_id) index of revision 0001 served no query, yet every message insert and
every delivery update (the reply's provider id arrives after the send) wrote to it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from adapters.postgres.migrations import execute_script

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
DROP INDEX ix_messages_provider_id;
"""

DOWNGRADE = r"""
CREATE INDEX ix_messages_provider_id ON messages (tenant_id, provider_message_id);
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
