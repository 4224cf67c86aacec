from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

import attrs

from domain.common.ids import TenantId


@attrs.frozen
class ApiLogEntry:
    """What is recorded per API request: who, which route, outcome and latency; never bodies or keys."""

    tenant_id: TenantId
    api_key_id: uuid.UUID | None
    method: str
    route: str
    status: int
    latency_ms: float
    client_ip: str | None
    correlation_id: str | None
    created_at: datetime


class ApiLogSink(Protocol):
    def record(self, entry: ApiLogEntry) -> None:
        """Queue an entry; it is written in the background so requests never wait on logging."""
        ...
