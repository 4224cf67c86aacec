from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from application.api_keys.views import ApiKeyView, IssuedApiKey
from entrypoints.http.schemas.common import Strict

ScopeName = Literal["read", "write", "send", "admin"]


class CreateApiKeyBody(Strict):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    scopes: Annotated[list[ScopeName], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["read", "write", "send"]
    )
    expires_at: datetime | None = None
    require_signature: bool = False


class RotateApiKeyBody(Strict):
    overlap_seconds: Annotated[int, msgspec.Meta(ge=0, le=30 * 86400)] = 3600


class ApiKeyResponse(msgspec.Struct):
    id: uuid.UUID
    tenant_id: uuid.UUID | None
    name: str
    prefix: str
    scopes: list[str]
    requires_signature: bool
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, view: ApiKeyView) -> ApiKeyResponse:
        return cls(
            id=view.id,
            tenant_id=view.tenant_id,
            name=view.name,
            prefix=view.prefix,
            scopes=[str(scope) for scope in view.scopes],
            requires_signature=view.requires_signature,
            created_at=view.created_at,
            expires_at=view.expires_at,
            last_used_at=view.last_used_at,
            revoked_at=view.revoked_at,
        )


class IssuedApiKeyResponse(msgspec.Struct):
    key: ApiKeyResponse
    # Shown once; store it now. Only a hash is kept.
    api_key: str
    signing_secret: str | None

    @classmethod
    def of(cls, issued: IssuedApiKey) -> IssuedApiKeyResponse:
        return cls(key=ApiKeyResponse.of(issued.key), api_key=issued.plaintext, signing_secret=issued.signing_secret)
