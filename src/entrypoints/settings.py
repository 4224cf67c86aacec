"""Configuration, read from the environment once at start-up. Each unset service URL selects the
embedded default (own Postgres, in-process events, in-process rate limits, local embeddings)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import attrs
import platformdirs


class ConfigurationError(ValueError):
    """A setting is missing or malformed; the CLI prints it and exits non-zero."""


@attrs.frozen
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1_048_576
    # Meta batches up to 1000 updates per webhook POST; their payloads reach 3 MB.
    max_webhook_body_bytes: int = 4 * 1_048_576
    max_upload_bytes: int = 25 * 1_048_576
    public_rate_limit_per_minute: int = 600
    # Meta delivers webhooks in bursts from a handful of addresses: their per-IP budget is its own.
    webhook_rate_limit_per_minute: int = 120_000
    # Proxies we trust to tell the client IP in X-Forwarded-For.
    trust_forwarded_for: bool = False


@attrs.frozen
class OpenAISettings:
    api_key: str | None = None
    base_url: str | None = None
    model: str = "gpt-4o"
    embedding_model: str = "text-embedding-3-small"
    embedding_dimension: int = 1536
    # How many tokens of one text the embedding model reads (8191 for OpenAI's; e.g. 512 or 2048 for models
    # served by Ollama or llama.cpp): chunks are sized below it.
    embedding_max_tokens: int = 8191


@attrs.frozen
class MetaSettings:
    app_secret: str | None = None
    verify_token: str | None = None
    graph_api_url: str = "https://graph.facebook.com"
    graph_api_version: str = "v25.0"


@attrs.frozen
class EventSettings:
    """The event backbone: relay, task partitions, RabbitMQ topology and redelivery."""

    # Prefix of every RabbitMQ exchange and queue name (several deployments can share a vhost).
    namespace: str = "metachat"
    # Ordered task partitions (queues `{namespace}.tasks.{i}`); change only with the queues drained.
    task_partitions: int = 16
    # "classic" or "quorum" (a RabbitMQ cluster); quorum queues also get a broker-side delivery limit.
    queue_type: str = "classic"
    delivery_limit: int = 20
    # A failing task or event handler is tried this often (with doubling pauses) before dead-lettering.
    handler_attempts: int = 5
    handler_retry_seconds: float = 0.5
    relay_batch_size: int = 500
    # The relay wakes on LISTEN/NOTIFY; this poll only covers a lost notification connection.
    relay_poll_seconds: float = 1.0
    broker_reconnect_seconds: float = 2.0
    confirm_timeout_seconds: float = 10.0
    outbox_retention_hours: float = 72.0


@attrs.frozen
class WebhookSettings:
    """Outbound tenant webhooks: timeouts, parallelism and the retry schedule."""

    timeout_seconds: float = 10.0
    concurrency: int = 64
    per_webhook_concurrency: int = 8
    poll_seconds: float = 1.0
    retry_first_delay_seconds: float = 10.0
    retry_multiplier: float = 2.0
    retry_max_delay_seconds: float = 3600.0
    retry_window_hours: float = 24.0
    retry_jitter: float = 0.2


@attrs.frozen
class ConversationSettings:
    """The conversation engine: the language model's budget and patience, and the tool loop."""

    # Prompt budget (system prompt, passages, history, tools); gpt-4o allows far more, this bounds cost.
    context_tokens: int = 16_000
    max_output_tokens: int = 800
    llm_timeout_seconds: float = 60.0
    llm_max_attempts: int = 4
    # Rounds of function calling per turn; the last round must answer in words.
    max_tool_iterations: int = 5


@attrs.frozen
class Settings:
    data_dir: Path
    database_url: str | None = None
    rabbitmq_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    admin_api_key: str | None = None
    log_level: str = "INFO"
    http: HttpSettings = HttpSettings()
    openai: OpenAISettings = OpenAISettings()
    meta: MetaSettings = MetaSettings()
    storage_dir: Path | None = None
    # Refuse webhook URLs on loopback/private networks (SSRF) unless the operator allows them.
    allow_private_webhook_urls: bool = False
    events: EventSettings = EventSettings()
    webhooks: WebhookSettings = WebhookSettings()
    conversations: ConversationSettings = ConversationSettings()

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def files_dir(self) -> Path:
        return self.storage_dir or self.data_dir / "files"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def integer(name: str, default: int) -> int:
            raw = text(name)
            if raw is None:
                return default
            try:
                return int(raw)
            except ValueError as error:
                raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from error

        def number(name: str, default: float) -> float:
            raw = text(name)
            if raw is None:
                return default
            try:
                return float(raw)
            except ValueError as error:
                raise ConfigurationError(f"{name} must be a number, got {raw!r}") from error

        def flag(name: str) -> bool:
            return (text(name) or "").lower() in ("1", "true", "yes", "on")

        database_url = text("DATABASE_URL")
        if database_url and urlsplit(database_url).scheme not in (
            "postgres",
            "postgresql",
            "postgresql+asyncpg",
        ):
            raise ConfigurationError("DATABASE_URL must be a postgresql:// URL")
        rabbitmq_url = text("RABBITMQ_URL")
        if rabbitmq_url and urlsplit(rabbitmq_url).scheme not in ("amqp", "amqps"):
            raise ConfigurationError("RABBITMQ_URL must be an amqp:// URL")
        redis_url = text("REDIS_URL")
        if redis_url and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigurationError("REDIS_URL must be a redis:// URL")
        queue_type = (text("RABBITMQ_QUEUE_TYPE") or "classic").lower()
        if queue_type not in ("classic", "quorum"):
            raise ConfigurationError(f"RABBITMQ_QUEUE_TYPE must be 'classic' or 'quorum', got {queue_type!r}")
        port = integer("PORT", 8000)
        if not 0 < port < 65536:
            raise ConfigurationError(f"PORT must be between 1 and 65535, got {port}")
        embedding_max_tokens = integer("OPENAI_EMBEDDING_MAX_TOKENS", 8191)
        if embedding_max_tokens < 16:
            raise ConfigurationError(f"OPENAI_EMBEDDING_MAX_TOKENS must be at least 16, got {embedding_max_tokens}")
        data_dir = Path(text("METACHAT_DATA_DIR") or platformdirs.user_data_dir("metachat"))
        storage = text("METACHAT_STORAGE_DIR")
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            rabbitmq_url=rabbitmq_url,
            redis_url=redis_url,
            secret_key=text("METACHAT_SECRET_KEY"),
            admin_api_key=text("ADMIN_API_KEY"),
            log_level=(text("LOG_LEVEL") or "INFO").upper(),
            http=HttpSettings(
                host=text("HOST") or "127.0.0.1",
                port=port,
                max_body_bytes=integer("MAX_BODY_BYTES", 1_048_576),
                max_webhook_body_bytes=integer("MAX_WEBHOOK_BODY_BYTES", 4 * 1_048_576),
                max_upload_bytes=integer("MAX_UPLOAD_BYTES", 25 * 1_048_576),
                public_rate_limit_per_minute=integer("PUBLIC_RATE_LIMIT_PER_MINUTE", 600),
                webhook_rate_limit_per_minute=integer("WEBHOOK_RATE_LIMIT_PER_MINUTE", 120_000),
                trust_forwarded_for=flag("TRUST_FORWARDED_FOR"),
            ),
            openai=OpenAISettings(
                api_key=text("OPENAI_API_KEY"),
                base_url=text("OPENAI_BASE_URL"),
                model=text("OPENAI_MODEL") or "gpt-4o",
                embedding_model=text("OPENAI_EMBEDDING_MODEL") or "text-embedding-3-small",
                embedding_dimension=integer("OPENAI_EMBEDDING_DIMENSION", 1536),
                embedding_max_tokens=embedding_max_tokens,
            ),
            meta=MetaSettings(
                app_secret=text("META_APP_SECRET"),
                verify_token=text("META_VERIFY_TOKEN"),
                graph_api_url=(text("META_GRAPH_API_URL") or "https://graph.facebook.com").rstrip("/"),
                graph_api_version=text("META_GRAPH_API_VERSION") or "v25.0",
            ),
            storage_dir=Path(storage) if storage else None,
            allow_private_webhook_urls=flag("ALLOW_PRIVATE_WEBHOOK_URLS"),
            events=EventSettings(
                namespace=text("RABBITMQ_NAMESPACE") or "metachat",
                task_partitions=integer("TASK_PARTITIONS", 16),
                queue_type=queue_type,
                delivery_limit=integer("RABBITMQ_DELIVERY_LIMIT", 20),
                handler_attempts=integer("TASK_HANDLER_ATTEMPTS", 5),
                relay_batch_size=integer("RELAY_BATCH_SIZE", 500),
                outbox_retention_hours=number("OUTBOX_RETENTION_HOURS", 72.0),
            ),
            webhooks=WebhookSettings(
                timeout_seconds=number("WEBHOOK_TIMEOUT_SECONDS", 10.0),
                concurrency=integer("WEBHOOK_CONCURRENCY", 64),
                per_webhook_concurrency=integer("WEBHOOK_PER_ENDPOINT_CONCURRENCY", 8),
                retry_first_delay_seconds=number("WEBHOOK_RETRY_FIRST_DELAY_SECONDS", 10.0),
                retry_max_delay_seconds=number("WEBHOOK_RETRY_MAX_DELAY_SECONDS", 3600.0),
                retry_window_hours=number("WEBHOOK_RETRY_WINDOW_HOURS", 24.0),
            ),
            conversations=ConversationSettings(
                context_tokens=integer("LLM_CONTEXT_TOKENS", 16_000),
                max_output_tokens=integer("LLM_MAX_OUTPUT_TOKENS", 800),
                llm_timeout_seconds=number("LLM_TIMEOUT_SECONDS", 60.0),
                llm_max_attempts=integer("LLM_MAX_ATTEMPTS", 4),
                max_tool_iterations=integer("LLM_MAX_TOOL_ITERATIONS", 5),
            ),
        )
