"""Core tables. Every tenant-owned table leads its primary key and unique constraints with tenant_id,
so a single Postgres can later become a Citus cluster distributed by tenant."""

from __future__ import annotations

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA, JSONB, REGCONFIG, TIMESTAMP, TSVECTOR, UUID

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TZ = TIMESTAMP(timezone=True)


def _now() -> sa.TextClause:
    return sa.text("now()")


def _tenant_fk() -> sa.ForeignKey:
    return sa.ForeignKey("tenants.id", ondelete="CASCADE")


tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("settings", JSONB, nullable=False),
    sa.Column("created_at", TZ, nullable=False, server_default=_now()),
    sa.Column("updated_at", TZ, nullable=False, server_default=_now()),
)

channels = sa.Table(
    "channels",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), _tenant_fk(), primary_key=True),
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("external_id", sa.Text, nullable=False),
    sa.Column("config", JSONB, nullable=False),
    sa.Column("secrets_encrypted", BYTEA, nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", TZ, nullable=False, server_default=_now()),
    sa.Column("updated_at", TZ, nullable=False, server_default=_now()),
)

# Platform-wide directory (a reference table under Citus): which channel owns a Meta phone number id,
# page id or widget id. Webhooks arrive before we know the tenant, so this lookup cannot be tenant-scoped.
channel_routes = sa.Table(
    "channel_routes",
    metadata,
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("external_id", sa.Text, primary_key=True),
    sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
    sa.Column("channel_id", UUID(as_uuid=True), nullable=False),
    sa.ForeignKeyConstraint(["tenant_id", "channel_id"], ["channels.tenant_id", "channels.id"], ondelete="CASCADE"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), _tenant_fk(), primary_key=True),
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("prefix", sa.Text, nullable=False),
    sa.Column("secret_hash", BYTEA, nullable=False),
    sa.Column("scopes", ARRAY(sa.Text), nullable=False),
    sa.Column("signing_secret_encrypted", BYTEA, nullable=True),
    sa.Column("created_at", TZ, nullable=False, server_default=_now()),
    sa.Column("expires_at", TZ, nullable=True),
    sa.Column("last_used_at", TZ, nullable=True),
    sa.Column("revoked_at", TZ, nullable=True),
    sa.UniqueConstraint("tenant_id", "prefix"),
)

admin_api_keys = sa.Table(
    "admin_api_keys",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("prefix", sa.Text, nullable=False, unique=True),
    sa.Column("secret_hash", BYTEA, nullable=False),
    sa.Column("scopes", ARRAY(sa.Text), nullable=False),
    sa.Column("signing_secret_encrypted", BYTEA, nullable=True),
    sa.Column("created_at", TZ, nullable=False, server_default=_now()),
    sa.Column("expires_at", TZ, nullable=True),
    sa.Column("last_used_at", TZ, nullable=True),
    sa.Column("revoked_at", TZ, nullable=True),
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), _tenant_fk(), primary_key=True),
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("channel_id", UUID(as_uuid=True), nullable=False),
    sa.Column("contact_id", sa.Text, nullable=False),
    sa.Column("contact_name", sa.Text, nullable=False, server_default=""),
    sa.Column("state", sa.Text, nullable=False, server_default="bot"),
    sa.Column("handoff_reason", sa.Text, nullable=False, server_default=""),
    sa.Column("last_inbound_at", TZ, nullable=True),
    sa.Column("last_agent_at", TZ, nullable=True),
    sa.Column("created_at", TZ, nullable=False, server_default=_now()),
    sa.Column("updated_at", TZ, nullable=False, server_default=_now()),
    sa.UniqueConstraint("tenant_id", "channel_id", "contact_id"),
    sa.ForeignKeyConstraint(["tenant_id", "channel_id"], ["channels.tenant_id", "channels.id"], ondelete="CASCADE"),
)

# Monthly range partitions on created_at (see partitions.py); the partition key has to be part of
# the primary key, so lookups by id go through the (tenant_id, id) index of each partition.
messages = sa.Table(
    "messages",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), _tenant_fk(), primary_key=True),
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("created_at", TZ, primary_key=True, server_default=_now()),
    sa.Column("conversation_id", UUID(as_uuid=True), nullable=False),
    sa.Column("channel_id", UUID(as_uuid=True), nullable=False),
    sa.Column("direction", sa.Text, nullable=False),
    sa.Column("sender", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False, server_default=""),
    sa.Column("content", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("provider_message_id", sa.Text, nullable=True),
    sa.Column("reply_to_provider_id", sa.Text, nullable=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("error", JSONB, nullable=True),
    sa.Column("occurred_at", TZ, nullable=False, server_default=_now()),
    sa.Column("idempotency_key", sa.Text, nullable=True),
    sa.Index("ix_messages_conversation", "tenant_id", "conversation_id", "created_at"),
    postgresql_partition_by="RANGE (created_at)",
)

api_logs = sa.Table(
    "api_logs",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("created_at", TZ, primary_key=True, server_default=_now()),
    sa.Column("api_key_id", UUID(as_uuid=True), nullable=True),
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("route", sa.Text, nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("client_ip", sa.Text, nullable=True),
    sa.Column("correlation_id", sa.Text, nullable=True),
    sa.Index("ix_api_logs_tenant_time", "tenant_id", "created_at"),
    postgresql_partition_by="RANGE (created_at)",
)

# Transactional outbox: events are written with the state change that caused them and published
# by the relay after commit. `seq` orders publication; aggregate_key keeps per-aggregate order.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False),
    # "event" → the topic exchange; "task" → the worker's queue.
    sa.Column("kind", sa.Text, nullable=False, server_default="event"),
    sa.Column("aggregate_key", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("correlation_id", sa.Text, nullable=True),
    sa.Column("created_at", TZ, nullable=False, server_default=_now()),
    sa.Column("published_at", TZ, nullable=True),
    sa.Index("ix_outbox_pending", "seq", postgresql_where=sa.text("published_at IS NULL")),
)

# Webhook inbox (migration 0003): each provider event once, keyed per channel by its provider key;
# the worker turns pending rows into messages/statuses.
inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), _tenant_fk(), primary_key=True),
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("channel_id", UUID(as_uuid=True), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("provider_event_key", sa.Text, nullable=False),
    sa.Column("contact_id", sa.Text, nullable=False, server_default=""),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("received_at", TZ, nullable=False, server_default=_now()),
    sa.Column("state", sa.Text, nullable=False, server_default="pending"),
    sa.Column("outcome", sa.Text, nullable=False, server_default=""),
    sa.Column("message_id", UUID(as_uuid=True), nullable=True),
    sa.Column("processed_at", TZ, nullable=True),
    sa.UniqueConstraint("tenant_id", "channel_id", "provider_event_key"),
    sa.ForeignKeyConstraint(["tenant_id", "channel_id"], ["channels.tenant_id", "channels.id"], ondelete="CASCADE"),
    # Whether a contact has other events waiting (see migration 0008).
    sa.Index(
        "ix_inbox_pending_by_contact",
        "tenant_id",
        "channel_id",
        "contact_id",
        "received_at",
        postgresql_where=sa.text("state = 'pending'"),
    ),
)

sa.Index(
    "ix_messages_channel_provider_id",
    messages.c.tenant_id,
    messages.c.channel_id,
    messages.c.provider_message_id,
    postgresql_where=messages.c.provider_message_id.isnot(None),
)

# Event backbone (migration 0002): tenant webhooks, their deliveries and attempt log, consumer dedupe,
# and the in-process transport's dead letters.
sa.Index("ix_outbox_pending_kind", outbox.c.kind, outbox.c.seq, postgresql_where=outbox.c.published_at.is_(None))

webhook_subscriptions = sa.Table(
    "webhook_subscriptions",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), _tenant_fk(), primary_key=True),
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("event_types", ARRAY(sa.Text), nullable=False),
    sa.Column("headers_encrypted", BYTEA, nullable=True),
    sa.Column("secret_encrypted", BYTEA, nullable=False),
    sa.Column("previous_secret_encrypted", BYTEA, nullable=True),
    sa.Column("previous_secret_expires_at", TZ, nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", TZ, nullable=False, server_default=_now()),
    sa.Column("updated_at", TZ, nullable=False, server_default=_now()),
    sa.Index("ix_webhook_subscriptions_active", "tenant_id", postgresql_where=sa.text("active")),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), _tenant_fk(), primary_key=True),
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("webhook_id", UUID(as_uuid=True), nullable=False),
    sa.Column("event_id", UUID(as_uuid=True), nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", TZ, nullable=False, server_default=_now()),
    sa.Column("retry_until", TZ, nullable=False),
    sa.Column("last_status_code", sa.SmallInteger, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", TZ, nullable=False, server_default=_now()),
    sa.Column("completed_at", TZ, nullable=True),
    sa.UniqueConstraint("tenant_id", "webhook_id", "event_id"),
    sa.ForeignKeyConstraint(
        ["tenant_id", "webhook_id"],
        ["webhook_subscriptions.tenant_id", "webhook_subscriptions.id"],
        ondelete="CASCADE",
    ),
    sa.Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        postgresql_where=sa.text("status IN ('pending', 'delivering')"),
    ),
    sa.Index(
        "ix_webhook_deliveries_webhook_due",
        "tenant_id",
        "webhook_id",
        "next_attempt_at",
        postgresql_where=sa.text("status IN ('pending', 'delivering')"),
    ),
    sa.Index("ix_webhook_deliveries_webhook", "tenant_id", "webhook_id", sa.text("created_at DESC"), "id"),
)

webhook_delivery_attempts = sa.Table(
    "webhook_delivery_attempts",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), _tenant_fk(), primary_key=True),
    sa.Column("delivery_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("attempted_at", TZ, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("status_code", sa.SmallInteger, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("response_excerpt", sa.Text, nullable=False, server_default=""),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.ForeignKeyConstraint(
        ["tenant_id", "delivery_id"],
        ["webhook_deliveries.tenant_id", "webhook_deliveries.id"],
        ondelete="CASCADE",
    ),
)

processed_messages = sa.Table(
    "processed_messages",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("consumer", sa.Text, primary_key=True),
    sa.Column("message_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("processed_at", TZ, nullable=False, server_default=_now()),
    sa.Index("ix_processed_messages_processed_at", "processed_at"),
)

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("created_at", TZ, nullable=False, server_default=_now()),
)

# Web chat (migration 0006): a per-conversation sequence number on every message, assigned by a trigger
# from this counter, so a widget resumes with "everything after N".
conversation_sequences = sa.Table(
    "conversation_sequences",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), _tenant_fk(), primary_key=True),
    sa.Column("conversation_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.ForeignKeyConstraint(
        ["tenant_id", "conversation_id"], ["conversations.tenant_id", "conversations.id"], ondelete="CASCADE"
    ),
)
messages.append_column(sa.Column("seq", sa.BigInteger, nullable=True))
sa.Index("ix_messages_conversation_seq", messages.c.tenant_id, messages.c.conversation_id, messages.c.seq)

# Conversation engine (migration 0005): the reply ledger, tenants' HTTP tools, and tool-call records.
outbound_sends = sa.Table(
    "outbound_sends",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), _tenant_fk(), primary_key=True),
    sa.Column("idempotency_key", sa.Text, primary_key=True),
    sa.Column("message_id", UUID(as_uuid=True), nullable=False),
    sa.Column("message_created_at", TZ, nullable=False),
    sa.Column("created_at", TZ, nullable=False, server_default=_now()),
    sa.Index("ix_outbound_sends_created", "created_at"),
)

tenant_tools = sa.Table(
    "tenant_tools",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), _tenant_fk(), primary_key=True),
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("parameters", JSONB, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("secret_encrypted", BYTEA, nullable=False),
    sa.Column("timeout_seconds", sa.Float, nullable=False, server_default=sa.text("10")),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", TZ, nullable=False, server_default=_now()),
    sa.Column("updated_at", TZ, nullable=False, server_default=_now()),
    sa.UniqueConstraint("tenant_id", "name"),
)

tool_calls = sa.Table(
    "tool_calls",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), _tenant_fk(), primary_key=True),
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("conversation_id", UUID(as_uuid=True), nullable=False),
    sa.Column("message_id", UUID(as_uuid=True), nullable=False),
    sa.Column("iteration", sa.SmallInteger, nullable=False),
    sa.Column("call_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("arguments", JSONB, nullable=False),
    sa.Column("result", sa.Text, nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("created_at", TZ, nullable=False, server_default=_now()),
    sa.ForeignKeyConstraint(
        ["tenant_id", "conversation_id"], ["conversations.tenant_id", "conversations.id"], ondelete="CASCADE"
    ),
    sa.Index("ix_tool_calls_conversation", "tenant_id", "conversation_id", "created_at"),
)
sa.Index(
    "ix_messages_text_search",
    sa.func.to_tsvector(sa.literal_column("'simple'"), messages.c.text),
    postgresql_using="gin",
)
sa.Index(
    "ix_conversations_with_human",
    conversations.c.last_agent_at,
    postgresql_where=conversations.c.state == "human",
)

# Knowledge base (migration 0004): documents, chunks with tsvector + embedding, BM25 term statistics.
documents = sa.Table(
    "documents",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), _tenant_fk(), primary_key=True),
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("filename", sa.Text, nullable=False),
    sa.Column("format", sa.Text, nullable=False),
    sa.Column("content_hash", sa.Text, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("storage_key", sa.Text, nullable=False),
    sa.Column("source_url", sa.Text, nullable=False, server_default=""),
    sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("chunking", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("progress", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("chunk_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("page_count", sa.Integer, nullable=True),
    sa.Column("embedding_model", sa.Text, nullable=False, server_default=""),
    sa.Column("index_version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("indexed_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", TZ, nullable=False, server_default=_now()),
    sa.Column("updated_at", TZ, nullable=False, server_default=_now()),
    sa.UniqueConstraint("tenant_id", "content_hash"),
    sa.Index("ix_documents_created", "tenant_id", "created_at", "id"),
    sa.Index("ix_documents_status", "status", "updated_at"),
)

chunks = sa.Table(
    "chunks",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("document_id", UUID(as_uuid=True), nullable=False),
    sa.Column("ordinal", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("token_count", sa.Integer, nullable=False),
    sa.Column("page", sa.Integer, nullable=True),
    sa.Column("heading_path", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("ts_config", REGCONFIG, nullable=False),
    sa.Column("tsv", TSVECTOR, sa.Computed("to_tsvector(ts_config, text)", persisted=True)),
    sa.Column(
        "term_count",
        sa.Integer,
        sa.Computed("metachat_tsvector_length(to_tsvector(ts_config, text))", persisted=True),
    ),
    sa.Column("embedding_model", sa.Text, nullable=False),
    sa.Column("embedding_dim", sa.Integer, nullable=False),
    sa.Column("embedding", Vector(), nullable=False),
    sa.Column("created_at", TZ, nullable=False, server_default=_now()),
    sa.ForeignKeyConstraint(["tenant_id", "document_id"], ["documents.tenant_id", "documents.id"], ondelete="CASCADE"),
    sa.Index("ix_chunks_document", "tenant_id", "document_id", "ordinal"),
)

kb_terms = sa.Table(
    "kb_terms",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), _tenant_fk(), primary_key=True),
    sa.Column("term", sa.Text, primary_key=True),
    sa.Column("df", sa.Integer, nullable=False),
    sa.Column("max_tf", sa.Integer, nullable=False),
)

kb_stats = sa.Table(
    "kb_stats",
    metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), _tenant_fk(), primary_key=True),
    sa.Column("chunk_count", sa.BigInteger, nullable=False),
    sa.Column("total_length", sa.BigInteger, nullable=False),
)
