from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from application.channels.views import ChannelView
from domain.channels.channel import CONFIG_TYPES, MAX_SECRET_CHARS, SECRET_NAMES
from entrypoints.http.openapi import model_ref
from entrypoints.http.schemas.common import Strict

# The domain's config types, for the routes' `documented(models=...)`: the document refers to them.
CONFIG_MODELS = tuple(CONFIG_TYPES.values())


def _one_per_kind(what: str, schemas: list[dict[str, Any]]) -> msgspec.Meta:
    # Free-form here, checked by the domain for the channel's kind; the document shows each kind's shape.
    return msgspec.Meta(
        extra_json_schema={
            "description": f"The {what} of the channel's kind (whatsapp, messenger, webchat)",
            # Set by Litestar on its schema of the field (`anyOf`, in the document's own spelling).
            "extra": {"any_of": schemas},
        }
    )


ChannelConfig = Annotated[
    dict[str, Any], _one_per_kind("config", [{"$ref": model_ref(model).ref} for model in CONFIG_MODELS])
]
ChannelName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
SecretValues = Annotated[
    dict[Annotated[str, msgspec.Meta(max_length=64)], Annotated[str, msgspec.Meta(max_length=MAX_SECRET_CHARS)]],
    _one_per_kind(
        "secrets",
        [
            {
                "title": f"{kind} secrets",
                "type": "object",
                "properties": {name: {"type": "string", "maxLength": MAX_SECRET_CHARS} for name in sorted(names)},
                "additionalProperties": False,
            }
            for kind, names in SECRET_NAMES.items()
        ],
    ),
]


class CreateChannelBody(Strict):
    kind: Literal["whatsapp", "messenger", "webchat"]
    name: ChannelName
    config: ChannelConfig = msgspec.field(default_factory=dict)
    secrets: SecretValues = msgspec.field(default_factory=dict)
    active: bool = True


class ReplaceChannelBody(Strict):
    name: ChannelName
    config: ChannelConfig = msgspec.field(default_factory=dict)
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
