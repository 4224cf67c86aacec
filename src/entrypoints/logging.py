"""Structured JSON logs: one object per line, with correlation and tenant ids, secrets redacted."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from application.observability import correlation_id_var, tenant_id_var

__all__ = ["RedactingJsonFormatter", "configure_logging", "correlation_id_var", "redact", "tenant_id_var"]

REDACTED = "[REDACTED]"
# Extra fields whose values are secrets or user content: never written, whatever the caller passed.
_SENSITIVE_FIELDS = re.compile(
    r"(secret|token|password|passwd|api_?key|authorization|signature|cookie|body|text|content|message_text)",
    re.I,
)
_SECRET_PATTERNS = [
    re.compile(r"mck_[A-Za-z0-9]+_[0-9a-f]{12}_[A-Za-z0-9_\-]+"),  # our API keys
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._\-~+/]+=*"),
    re.compile(r"(?i)(access_token|api_key|apikey|secret|password|token)=([^&\s\"']+)"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),  # OpenAI-style keys
    re.compile(r"\bEAA[A-Za-z0-9]{20,}"),  # Meta access tokens
]
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda match: f"{match.group(1)}={REDACTED}" if match.re.groups >= 2 else REDACTED, text)
    return text


class RedactingJsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
            "correlation_id": correlation_id_var.get(),
            "tenant_id": tenant_id_var.get(),
        }
        for key, value in vars(record).items():
            if key in _STANDARD_ATTRS or key.startswith("_"):
                continue
            if _SENSITIVE_FIELDS.search(key):
                entry[key] = REDACTED
            elif key == "tenant_id":
                entry[key] = str(value)
            else:
                entry[key] = redact(value) if isinstance(value, str) else _plain(value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def _plain(value: Any) -> Any:
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact(str(value))


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingJsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library loggers that echo URLs or payloads at INFO stay at WARNING.
    for noisy in (
        "httpx",
        "httpcore",
        "aio_pika",
        "aiormq",
        "openai",
        "uvicorn.access",
        "faststream",
        "pgserver",
        "alembic",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
