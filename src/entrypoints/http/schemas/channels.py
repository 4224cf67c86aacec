from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from application.channels.views import ChannelView
from entrypoints.http.schemas.common import Strict

ChannelName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
SecretValues = dict[Annotated[str, msgspec.Meta(max_length=64)], Annotated[str, msgspec.Meta(max_length=4096)]]


class CreateChannelBody(Strict):
    kind: Literal["whatsapp", "messenger", "webchat"]
    name: ChannelName
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    secrets: SecretValues = msgspec.field(default_factory=dict)
    active: bool = True


class ReplaceChannelBody(Strict):
    name: ChannelName
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    # Write-only: omit to keep the stored secrets; a name with "" removes that secret.
    secrets: SecretValues | None = None
    active: bool = True


class ChannelResponse(msgspec.Struct):
    id: uuid.UUID
    tenant_id: uuid.UUID
    kind: str
    name: str
    config: dict[str, Any]
    # Names of the stored secrets with masked values; the values themselves are never returned.
    secrets: dict[str, str]
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: ChannelView) -> ChannelResponse:
        return cls(
            id=view.id,
            tenant_id=view.tenant_id,
            kind=str(view.kind),
            name=view.name,
            config=view.config,
            secrets=view.secrets,
            active=view.active,
            created_at=view.created_at,
            updated_at=view.updated_at,
        )
