"""A tenant's outbound webhook: where to POST which events."""

from __future__ import annotations

import fnmatch
import re
from datetime import datetime

import attrs

from domain.common.errors import InvariantViolation
from domain.common.ids import TenantId, WebhookId
from domain.common.time import utc_now

_EVENT_PATTERN = re.compile(r"^(\*|[a-z_]+(\.([a-z_]+|\*))*)$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,100}$")
# Headers we set ourselves; letting a tenant override them would break verification.
_RESERVED_HEADERS = frozenset({"content-type", "content-length", "host", "user-agent"})


@attrs.define
class WebhookSubscription:
    id: WebhookId
    tenant_id: TenantId
    url: str
    event_types: tuple[str, ...]
    secret_encrypted: bytes
    headers: dict[str, str] = attrs.field(factory=dict)
    active: bool = True
    description: str = ""
    created_at: datetime = attrs.field(factory=utc_now)
    updated_at: datetime = attrs.field(factory=utc_now)

    def __attrs_post_init__(self) -> None:
        check_event_patterns(self.event_types)
        check_headers(self.headers)

    def wants(self, event_type: str) -> bool:
        return self.active and any(fnmatch.fnmatchcase(event_type, pattern) for pattern in self.event_types)


def check_event_patterns(patterns: tuple[str, ...]) -> None:
    if not patterns:
        raise InvariantViolation("a webhook needs at least one event type (use '*' for all)")
    bad = [pattern for pattern in patterns if not _EVENT_PATTERN.match(pattern)]
    if bad:
        raise InvariantViolation("event types look like 'message.received' or 'message.*'", details={"invalid": bad})


def check_headers(headers: dict[str, str]) -> None:
    bad = [
        name
        for name in headers
        if not _HEADER_NAME.match(name) or name.lower() in _RESERVED_HEADERS or name.lower().startswith("x-metachat-")
    ]
    if bad:
        raise InvariantViolation("custom header names must be plain and not reserved", details={"invalid": bad})
    if any("\n" in value or "\r" in value or len(value) > 2000 for value in headers.values()):
        raise InvariantViolation("custom header values must be single-line and at most 2000 characters")
