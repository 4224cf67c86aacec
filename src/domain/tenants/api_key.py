"""API keys: admin keys act platform-wide, tenant keys only inside their own tenant."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import attrs

from domain.common.errors import InvariantViolation
from domain.common.ids import ApiKeyId, TenantId
from domain.common.time import utc_now


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    SEND = "send"
    ADMIN = "admin"


ALL_SCOPES = frozenset(Scope)


@attrs.define
class ApiKey:
    id: ApiKeyId
    # None for platform admin keys.
    tenant_id: TenantId | None
    name: str
    prefix: str
    secret_hash: bytes
    scopes: frozenset[Scope]
    created_at: datetime = attrs.field(factory=utc_now)
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    # Encrypted HMAC secret when the key requires signed requests.
    signing_secret_encrypted: bytes | None = None

    def __attrs_post_init__(self) -> None:
        if not self.scopes:
            raise InvariantViolation("an API key needs at least one scope", details={"field": "scopes"})
        if not self.name.strip() or len(self.name) > 200:
            raise InvariantViolation("API key name must be 1 to 200 characters", details={"field": "name"})

    @property
    def is_admin(self) -> bool:
        return self.tenant_id is None

    @property
    def requires_signature(self) -> bool:
        return self.signing_secret_encrypted is not None

    def is_usable_at(self, moment: datetime) -> bool:
        if self.revoked_at is not None and self.revoked_at <= moment:
            return False
        return self.expires_at is None or moment < self.expires_at

    def allows(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes

    def revoke(self, moment: datetime | None = None) -> None:
        if self.revoked_at is None:
            self.revoked_at = moment or utc_now()

    def expire_at(self, moment: datetime) -> None:
        """Rotation: the old key keeps working until the overlap window closes."""
        if self.expires_at is None or moment < self.expires_at:
            self.expires_at = moment
