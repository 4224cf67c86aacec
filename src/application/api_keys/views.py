from __future__ import annotations

from datetime import datetime

import attrs

from domain.common.ids import ApiKeyId, TenantId
from domain.tenants.api_key import ApiKey, Scope


@attrs.frozen
class ApiKeyView:
    id: ApiKeyId
    tenant_id: TenantId | None
    name: str
    prefix: str
    scopes: tuple[Scope, ...]
    requires_signature: bool
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyView:
        return cls(
            id=key.id,
            tenant_id=key.tenant_id,
            name=key.name,
            prefix=key.prefix,
            scopes=tuple(sorted(key.scopes)),
            requires_signature=key.requires_signature,
            created_at=key.created_at,
            expires_at=key.expires_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


@attrs.frozen
class IssuedApiKey:
    """Returned once at creation: the only time the plaintext key (and signing secret) leave the server."""

    key: ApiKeyView
    plaintext: str
    signing_secret: str | None
