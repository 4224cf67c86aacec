from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from application.tools.views import TenantToolView
from entrypoints.http.schemas.common import Strict

ToolName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Description = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
Secret = Annotated[str, msgspec.Meta(min_length=16, max_length=256)]
Timeout = Annotated[float, msgspec.Meta(ge=0.5, le=30.0)]


class CreateToolBody(Strict):
    name: ToolName
    description: Description
    # A JSON schema with "type": "object" — the function's arguments, as the model will fill them in.
    parameters: dict[str, Any]
    url: Url
    # Omit to have one generated (returned once, in this response).
    secret: Secret | None = None
    timeout_seconds: Timeout = 10.0
    active: bool = True


class ReplaceToolBody(Strict):
    description: Description
    parameters: dict[str, Any]
    url: Url
    timeout_seconds: Timeout = 10.0
    active: bool = True
    # Write-only: omit to keep the stored secret.
    secret: Secret | None = None


class ToolResponse(msgspec.Struct):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    description: str
    parameters: dict[str, Any]
    url: str
    timeout_seconds: float
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: TenantToolView) -> ToolResponse:
        return cls(
            id=view.id,
            tenant_id=view.tenant_id,
            name=view.name,
            description=view.description,
            parameters=view.parameters,
            url=view.url,
            timeout_seconds=view.timeout_seconds,
            active=view.active,
            created_at=view.created_at,
            updated_at=view.updated_at,
        )


class CreatedToolResponse(msgspec.Struct):
    tool: ToolResponse
    # The HMAC key for X-MetaChat-Signature on calls to this tool; shown only here.
    secret: str
