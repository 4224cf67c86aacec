"""Request/message context that follows work across processes: the correlation id travels with every
outbox row into the worker, and the tenant id tags every log line."""

from __future__ import annotations

from contextvars import ContextVar

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)
tenant_id_var: ContextVar[str | None] = ContextVar("tenant_id", default=None)
