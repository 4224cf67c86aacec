"""Foundation: tenants, channels, API keys, conversations, partitioned messages and api_logs, outbox,
row-level security.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

from adapters.postgres.migrations import execute_script

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("channels", "api_keys", "conversations", "messages", "outbox")

UPGRADE = r"""
CREATE EXTENSION IF NOT EXISTS vector;

DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'metachat_app') THEN
    CREATE ROLE metachat_app NOLOGIN;
  END IF;
END $$;
GRANT metachat_app TO CURRENT_USER;

CREATE TABLE tenants (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  settings jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_tenants_created ON tenants (created_at, id);

CREATE TABLE channels (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  kind text NOT NULL,
  name text NOT NULL,
  external_id text NOT NULL,
  config jsonb NOT NULL,
  secrets_encrypted bytea,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pk_channels PRIMARY KEY (tenant_id, id)
);

CREATE TABLE channel_routes (
  kind text NOT NULL,
  external_id text NOT NULL,
  tenant_id uuid NOT NULL,
  channel_id uuid NOT NULL,
  CONSTRAINT pk_channel_routes PRIMARY KEY (kind, external_id),
  CONSTRAINT fk_channel_routes_channel FOREIGN KEY (tenant_id, channel_id)
    REFERENCES channels (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE api_keys (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  name text NOT NULL,
  prefix text NOT NULL,
  secret_hash bytea NOT NULL,
  scopes text[] NOT NULL,
  signing_secret_encrypted bytea,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked_at timestamptz,
  CONSTRAINT pk_api_keys PRIMARY KEY (tenant_id, id),
  CONSTRAINT uq_api_keys_tenant_id_prefix UNIQUE (tenant_id, prefix)
);

CREATE TABLE admin_api_keys (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  prefix text NOT NULL UNIQUE,
  secret_hash bytea NOT NULL,
  scopes text[] NOT NULL,
  signing_secret_encrypted bytea,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked_at timestamptz
);

CREATE TABLE conversations (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  channel_id uuid NOT NULL,
  contact_id text NOT NULL,
  contact_name text NOT NULL DEFAULT '',
  state text NOT NULL DEFAULT 'bot',
  handoff_reason text NOT NULL DEFAULT '',
  last_inbound_at timestamptz,
  last_agent_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pk_conversations PRIMARY KEY (tenant_id, id),
  CONSTRAINT uq_conversations_tenant_id_channel_id_contact_id UNIQUE (tenant_id, channel_id, contact_id),
  CONSTRAINT fk_conversations_channel FOREIGN KEY (tenant_id, channel_id)
    REFERENCES channels (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX ix_conversations_updated ON conversations (tenant_id, updated_at DESC, id);

CREATE TABLE messages (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  conversation_id uuid NOT NULL,
  channel_id uuid NOT NULL,
  direction text NOT NULL,
  sender text NOT NULL,
  type text NOT NULL,
  text text NOT NULL DEFAULT '',
  content jsonb NOT NULL DEFAULT '{}'::jsonb,
  provider_message_id text,
  reply_to_provider_id text,
  status text NOT NULL,
  error jsonb,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  idempotency_key text,
  CONSTRAINT pk_messages PRIMARY KEY (tenant_id, id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX ix_messages_conversation ON messages (tenant_id, conversation_id, created_at);
CREATE INDEX ix_messages_provider_id ON messages (tenant_id, provider_message_id);
CREATE TABLE messages_default PARTITION OF messages DEFAULT;

CREATE TABLE api_logs (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  api_key_id uuid,
  method text NOT NULL,
  route text NOT NULL,
  status smallint NOT NULL,
  latency_ms double precision NOT NULL,
  client_ip text,
  correlation_id text,
  CONSTRAINT pk_api_logs PRIMARY KEY (tenant_id, id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX ix_api_logs_tenant_time ON api_logs (tenant_id, created_at);
CREATE TABLE api_logs_default PARTITION OF api_logs DEFAULT;

CREATE TABLE outbox (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  kind text NOT NULL DEFAULT 'event' CHECK (kind IN ('event', 'task')),
  aggregate_key text NOT NULL,
  type text NOT NULL,
  payload jsonb NOT NULL,
  correlation_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  CONSTRAINT pk_outbox PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_outbox_pending ON outbox (seq) WHERE published_at IS NULL;

-- Monthly partitions, created ahead by the API and worker at start-up and daily after that.
CREATE FUNCTION metachat_ensure_monthly_partitions(parent text, months_ahead integer)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
  month_start date := date_trunc('month', now())::date;
  created integer := 0;
  partition_name text;
BEGIN
  FOR i IN 0..months_ahead LOOP
    partition_name := format('%s_p%s', parent, to_char(month_start, 'YYYYMM'));
    IF to_regclass(partition_name) IS NULL THEN
      EXECUTE format(
        'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
        partition_name, parent, month_start, (month_start + interval '1 month')::date
      );
      created := created + 1;
    END IF;
    month_start := (month_start + interval '1 month')::date;
  END LOOP;
  RETURN created;
END
$fn$;

-- Row-level security: the second wall behind repository scoping. Application transactions run as
-- metachat_app with app.tenant_id set; platform work (routing, relays) sets app.bypass_rls.
CREATE FUNCTION metachat_enable_tenant_rls(target regclass, tenant_column text DEFAULT 'tenant_id')
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target);
  EXECUTE format(
    'CREATE POLICY tenant_isolation ON %s USING (%2$s) WITH CHECK (%2$s)',
    target,
    format(
      'current_setting(''app.bypass_rls'', true) = ''on'' OR %I = nullif(current_setting(''app.tenant_id'', true), '''')::uuid',
      tenant_column
    )
  );
END
$fn$;

SELECT metachat_enable_tenant_rls('tenants', 'id');
SELECT metachat_ensure_monthly_partitions('messages', 2);
SELECT metachat_ensure_monthly_partitions('api_logs', 2);

GRANT USAGE ON SCHEMA public TO metachat_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO metachat_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO metachat_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO metachat_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO metachat_app;
"""

DOWNGRADE = r"""
DROP TABLE IF EXISTS outbox, api_logs, messages, conversations, admin_api_keys, api_keys, channel_routes,
  channels, tenants CASCADE;
DROP FUNCTION IF EXISTS metachat_enable_tenant_rls(regclass, text);
DROP FUNCTION IF EXISTS metachat_ensure_monthly_partitions(text, integer);
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM metachat_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM metachat_app;
REVOKE USAGE ON SCHEMA public FROM metachat_app;
"""


def upgrade() -> None:
    execute_script(UPGRADE)
    for table in TENANT_TABLES:
        op.execute(f"SELECT metachat_enable_tenant_rls('{table}')")


def downgrade() -> None:
    # The metachat_app role is cluster-wide and may serve other databases, so it stays.
    execute_script(DOWNGRADE)
