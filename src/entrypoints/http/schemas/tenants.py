from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from application.tenants.views import TenantView
from entrypoints.http.schemas.common import Strict

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class RagSettingsBody(Strict, omit_defaults=True):
    enabled: bool | Unset = UNSET
    top_k: Annotated[int, msgspec.Meta(ge=1, le=50)] | Unset = UNSET
    keyword_weight: Annotated[float, msgspec.Meta(ge=0, le=1)] | Unset = UNSET
    vector_weight: Annotated[float, msgspec.Meta(ge=0, le=1)] | Unset = UNSET
    fusion: Literal["weighted", "rrf"] | Unset = UNSET
    min_score: Annotated[float, msgspec.Meta(ge=0, le=1)] | Unset = UNSET
    chunking: Literal["fixed", "recursive", "semantic", "qa"] | Unset = UNSET
    chunk_tokens: Annotated[int, msgspec.Meta(ge=50, le=2000)] | Unset = UNSET
    chunk_overlap_tokens: Annotated[int, msgspec.Meta(ge=0, le=1000)] | Unset = UNSET


class RetentionSettingsBody(Strict, omit_defaults=True):
    messages_days: Annotated[int, msgspec.Meta(ge=1)] | Unset = UNSET
    api_logs_days: Annotated[int, msgspec.Meta(ge=1)] | Unset = UNSET


class RateLimitSettingsBody(Strict, omit_defaults=True):
    per_key_per_minute: Annotated[int, msgspec.Meta(ge=1)] | Unset = UNSET
    per_tenant_per_minute: Annotated[int, msgspec.Meta(ge=1)] | Unset = UNSET


class TenantSettingsBody(Strict, omit_defaults=True):
    """Omitted fields take their defaults (POST/PUT) or keep their value (PATCH)."""

    brand_name: Annotated[str, msgspec.Meta(max_length=200)] | Unset = UNSET
    tone: Annotated[str, msgspec.Meta(max_length=500)] | Unset = UNSET
    locale: Annotated[str, msgspec.Meta(max_length=16)] | Unset = UNSET
    handoff_keywords: list[Annotated[str, msgspec.Meta(max_length=100)]] | Unset = UNSET
    rag: RagSettingsBody | Unset = UNSET
    retention: RetentionSettingsBody | Unset = UNSET
    rate_limits: RateLimitSettingsBody | Unset = UNSET
    handoff_idle_release_minutes: Annotated[int, msgspec.Meta(ge=1)] | Unset = UNSET
    whatsapp_reengagement_template: Annotated[str, msgspec.Meta(max_length=512)] | Unset = UNSET
    whatsapp_template_language: Annotated[str, msgspec.Meta(max_length=16)] | Unset = UNSET


TenantName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class CreateTenantBody(Strict):
    name: TenantName
    settings: TenantSettingsBody = msgspec.field(default_factory=TenantSettingsBody)


class ReplaceTenantBody(Strict):
    name: TenantName
    settings: TenantSettingsBody = msgspec.field(default_factory=TenantSettingsBody)


class PatchTenantBody(Strict):
    name: TenantName | Unset = UNSET
    settings: TenantSettingsBody | Unset = UNSET


class TenantResponse(msgspec.Struct):
    id: uuid.UUID
    name: str
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: TenantView) -> TenantResponse:
        return cls(view.id, view.name, view.settings.to_dict(), view.created_at, view.updated_at)


class TenantPage(msgspec.Struct):
    items: list[TenantResponse]
    next_cursor: str | None
