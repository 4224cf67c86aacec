"""The outbox trigger stays quiet for sessions that wake their relays themselves.

NOTIFY takes a database-wide lock when its transaction commits and keeps it until after the commit's WAL
flush, so the commits of notifying transactions run one at a time, each flushing on its own. Every message
commits outbox rows two or three times (the webhook intake, the stored message's events, the reply's
outcome), so that lock was where concurrent commits queued. A process that runs relays itself starts its
sessions with `app.outbox_notify = off` and wakes its own relays after such commits
(`adapters/postgres/notifications.py`); other sessions notify as before.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from adapters.postgres.migrations import execute_script

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
# The trigger function it replaces comes from the event-backbone branch.
depends_on: str | Sequence[str] | None = "0002"

UPGRADE = r"""
CREATE OR REPLACE FUNCTION metachat_notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  inserted_kind text;
BEGIN
  IF current_setting('app.outbox_notify', true) IS DISTINCT FROM 'off' THEN
    FOR inserted_kind IN SELECT DISTINCT kind FROM inserted_rows LOOP
      PERFORM pg_notify('metachat_outbox', inserted_kind);
    END LOOP;
  END IF;
  RETURN NULL;
END
$fn$;
"""

DOWNGRADE = r"""
CREATE OR REPLACE FUNCTION metachat_notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  inserted_kind text;
BEGIN
  FOR inserted_kind IN SELECT DISTINCT kind FROM inserted_rows LOOP
    PERFORM pg_notify('metachat_outbox', inserted_kind);
  END LOOP;
  RETURN NULL;
END
$fn$;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
