"""Event backbone: tenant webhooks (subscriptions, deliveries, attempt log), consumer-side dedupe,
dead letters of the in-process transport, and NOTIFY triggers that wake the relay and the webhook
dispatcher as soon as work commits.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from adapters.postgres.migrations import execute_script

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
-- The relay claims pending rows of one kind in seq order.
CREATE INDEX ix_outbox_pending_kind ON outbox (kind, seq) WHERE published_at IS NULL;
-- A queue table: every row is updated once (published) and deleted later, so it is vacuumed early and
-- often, keeping the pending-row index free of dead entries the relay would otherwise wade through.
ALTER TABLE outbox SET (
  autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
  autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0
);

-- One notification per statement and kind: the relay of that kind wakes up once the insert commits
-- (NOTIFY is transactional, so a rolled-back insert wakes nobody).
CREATE FUNCTION metachat_notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  inserted_kind text;
BEGIN
  FOR inserted_kind IN SELECT DISTINCT kind FROM inserted_rows LOOP
    PERFORM pg_notify('metachat_outbox', inserted_kind);
  END LOOP;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
  REFERENCING NEW TABLE AS inserted_rows FOR EACH STATEMENT EXECUTE FUNCTION metachat_notify_outbox();

CREATE TABLE webhook_subscriptions (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  url text NOT NULL,
  event_types text[] NOT NULL,
  -- Custom headers often carry the receiver's credentials: encrypted like channel secrets.
  headers_encrypted bytea,
  secret_encrypted bytea NOT NULL,
  -- After a rotation the old secret signs alongside the new one until this moment.
  previous_secret_encrypted bytea,
  previous_secret_expires_at timestamptz,
  active boolean NOT NULL DEFAULT true,
  description text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pk_webhook_subscriptions PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_webhook_subscriptions_active ON webhook_subscriptions (tenant_id) WHERE active;

CREATE TABLE webhook_deliveries (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  webhook_id uuid NOT NULL,
  event_id uuid NOT NULL,
  event_type text NOT NULL,
  -- The exact bytes POSTed on every attempt (the signature covers them).
  body text NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivering', 'delivered', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  -- pending: when the next attempt is due; delivering: when the claim lapses (a crashed worker's
  -- delivery is picked up again then).
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  retry_until timestamptz NOT NULL,
  last_status_code smallint,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  CONSTRAINT pk_webhook_deliveries PRIMARY KEY (tenant_id, id),
  -- One delivery per event and webhook, however often the event is relayed.
  CONSTRAINT uq_webhook_deliveries_tenant_id_webhook_id_event_id UNIQUE (tenant_id, webhook_id, event_id),
  CONSTRAINT fk_webhook_deliveries_webhook FOREIGN KEY (tenant_id, webhook_id)
    REFERENCES webhook_subscriptions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
  WHERE status IN ('pending', 'delivering');
-- The dispatcher takes a few due deliveries per webhook, so one slow receiver's backlog never
-- starves the others.
CREATE INDEX ix_webhook_deliveries_webhook_due ON webhook_deliveries (tenant_id, webhook_id, next_attempt_at)
  WHERE status IN ('pending', 'delivering');
CREATE INDEX ix_webhook_deliveries_webhook ON webhook_deliveries (tenant_id, webhook_id, created_at DESC, id);
ALTER TABLE webhook_deliveries SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0);

CREATE TABLE webhook_delivery_attempts (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  delivery_id uuid NOT NULL,
  number integer NOT NULL,
  attempted_at timestamptz NOT NULL,
  duration_ms double precision NOT NULL,
  status_code smallint,
  error text,
  response_excerpt text NOT NULL DEFAULT '',
  outcome text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
  CONSTRAINT pk_webhook_delivery_attempts PRIMARY KEY (tenant_id, delivery_id, number),
  CONSTRAINT fk_webhook_delivery_attempts_delivery FOREIGN KEY (tenant_id, delivery_id)
    REFERENCES webhook_deliveries (tenant_id, id) ON DELETE CASCADE
);

CREATE FUNCTION metachat_notify_webhook_deliveries() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_notify('metachat_webhook_deliveries', '');
  RETURN NULL;
END
$fn$;
CREATE TRIGGER webhook_deliveries_notify AFTER INSERT ON webhook_deliveries
  FOR EACH STATEMENT EXECUTE FUNCTION metachat_notify_webhook_deliveries();

-- Consumer-side dedupe: a consumer records the message id in the transaction that applies its effect,
-- so a redelivered message finds its row and changes nothing. No FK to tenants: the last events of a
-- deleted tenant are still consumed.
CREATE TABLE processed_messages (
  tenant_id uuid NOT NULL,
  consumer text NOT NULL,
  message_id uuid NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pk_processed_messages PRIMARY KEY (tenant_id, consumer, message_id)
);
CREATE INDEX ix_processed_messages_processed_at ON processed_messages (processed_at);

-- Tasks the in-process transport gave up on (RabbitMQ keeps its own dead-letter queue).
CREATE TABLE dead_letters (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL,
  kind text NOT NULL,
  type text NOT NULL,
  payload jsonb NOT NULL,
  error text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pk_dead_letters PRIMARY KEY (tenant_id, id)
);

SELECT metachat_enable_tenant_rls('webhook_subscriptions');
SELECT metachat_enable_tenant_rls('webhook_deliveries');
SELECT metachat_enable_tenant_rls('webhook_delivery_attempts');
SELECT metachat_enable_tenant_rls('processed_messages');
SELECT metachat_enable_tenant_rls('dead_letters');
"""

DOWNGRADE = r"""
DROP TABLE IF EXISTS dead_letters, processed_messages, webhook_delivery_attempts, webhook_deliveries,
  webhook_subscriptions;
DROP FUNCTION IF EXISTS metachat_notify_webhook_deliveries();
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
DROP FUNCTION IF EXISTS metachat_notify_outbox();
DROP INDEX IF EXISTS ix_outbox_pending_kind;
ALTER TABLE outbox RESET (
  autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_analyze_scale_factor,
  autovacuum_vacuum_cost_delay
);
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
