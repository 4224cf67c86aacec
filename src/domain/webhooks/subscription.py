"""A tenant's outbound webhook: where to POST which events."""

from __future__ import annotations

import fnmatch
import re
from datetime import datetime
from urllib.parse import urlsplit

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
    # After a rotation the previous secret keeps signing (a second v1 value) until it expires, so
    # receivers can switch without dropping deliveries.
    previous_secret_encrypted: bytes | None = None
    previous_secret_expires_at: datetime | None = None

    def __attrs_post_init__(self) -> None:
        check_url(self.url)
        check_event_patterns(self.event_types)
        check_headers(self.headers)
        check_description(self.description)

    def wants(self, event_type: str) -> bool:
        return self.active and any(fnmatch.fnmatchcase(event_type, pattern) for pattern in self.event_types)

    def reconfigure(
        self,
        *,
        url: str,
        event_types: tuple[str, ...],
        headers: dict[str, str] | None,
        active: bool,
        description: str,
        moment: datetime,
    ) -> None:
        """Replace the settings; headers None keeps the stored ones (their values are never shown)."""
        check_url(url)
        check_event_patterns(event_types)
        check_description(description)
        if headers is not None:
            check_headers(headers)
            self.headers = dict(headers)
        self.url = url
        self.event_types = event_types
        self.active = active
        self.description = description
        self.updated_at = moment

    def rotate_secret(self, new_secret_encrypted: bytes, *, previous_valid_until: datetime, moment: datetime) -> None:
        if previous_valid_until > moment:
            self.previous_secret_encrypted = self.secret_encrypted
            self.previous_secret_expires_at = previous_valid_until
        else:
            self.previous_secret_encrypted = None
            self.previous_secret_expires_at = None
        self.secret_encrypted = new_secret_encrypted
        self.updated_at = moment

    def signing_secrets_at(self, moment: datetime) -> list[bytes]:
        """Encrypted secrets that sign a delivery sent at `moment`: the current one first."""
        secrets = [self.secret_encrypted]
        if (
            self.previous_secret_encrypted is not None
            and self.previous_secret_expires_at is not None
            and moment < self.previous_secret_expires_at
        ):
            secrets.append(self.previous_secret_encrypted)
        return secrets


MAX_URL_LENGTH = 2000


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvariantViolation(
            "the webhook URL must be an absolute http(s) URL of at most 2000 characters", details={"field": "url"}
        )
    if parts.username or parts.password:
        # Credentials in the URL end up in logs; custom headers are encrypted at rest.
        raise InvariantViolation("put credentials in a custom header, not in the webhook URL", details={"field": "url"})


def check_description(description: str) -> None:
    if len(description) > 500:
        raise InvariantViolation("the description is at most 500 characters", details={"field": "description"})


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
