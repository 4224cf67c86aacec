"""Tenant aggregate: a business running its assistant on the platform."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

import attrs

from domain.common.errors import InvariantViolation
from domain.common.ids import TenantId
from domain.common.time import utc_now

T = TypeVar("T")

_LOCALE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z]{2,4})?$")


def _positive(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value <= 0:
        raise InvariantViolation(f"{attribute.name} must be positive", details={"field": attribute.name})


def _unit_interval(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise InvariantViolation(f"{attribute.name} must be between 0 and 1", details={"field": attribute.name})


class FusionMethod(StrEnum):
    WEIGHTED = "weighted"
    RRF = "rrf"


class ChunkingStrategyName(StrEnum):
    FIXED = "fixed"
    RECURSIVE = "recursive"
    SEMANTIC = "semantic"
    QA = "qa"


@attrs.frozen
class RagSettings:
    enabled: bool = True
    top_k: int = attrs.field(default=5, validator=_positive)
    keyword_weight: float = attrs.field(default=0.3, validator=_unit_interval)
    vector_weight: float = attrs.field(default=0.7, validator=_unit_interval)
    fusion: FusionMethod = attrs.field(default=FusionMethod.WEIGHTED, converter=FusionMethod)
    min_score: float = attrs.field(default=0.0, validator=_unit_interval)
    chunking: ChunkingStrategyName = attrs.field(default=ChunkingStrategyName.RECURSIVE, converter=ChunkingStrategyName)
    chunk_tokens: int = attrs.field(default=300, validator=_positive)
    chunk_overlap_tokens: int = 40

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.chunk_overlap_tokens < self.chunk_tokens:
            raise InvariantViolation(
                "chunk_overlap_tokens must be at least 0 and smaller than chunk_tokens",
                details={"field": "chunk_overlap_tokens"},
            )


@attrs.frozen
class RetentionSettings:
    messages_days: int = attrs.field(default=365, validator=_positive)
    api_logs_days: int = attrs.field(default=90, validator=_positive)


@attrs.frozen
class RateLimitSettings:
    per_key_per_minute: int = attrs.field(default=600, validator=_positive)
    per_tenant_per_minute: int = attrs.field(default=3000, validator=_positive)


def _to_rag(value: RagSettings | dict[str, Any]) -> RagSettings:
    return _nested(RagSettings, value)


def _to_retention(value: RetentionSettings | dict[str, Any]) -> RetentionSettings:
    return _nested(RetentionSettings, value)


def _to_rate_limits(value: RateLimitSettings | dict[str, Any]) -> RateLimitSettings:
    return _nested(RateLimitSettings, value)


def _to_keywords(value: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class TenantSettings:
    brand_name: str = ""
    tone: str = "friendly and concise"
    locale: str = "en"
    handoff_keywords: tuple[str, ...] = attrs.field(
        default=("human", "agent", "talk to a person", "representative"), converter=_to_keywords
    )
    rag: RagSettings = attrs.field(factory=RagSettings, converter=_to_rag)
    retention: RetentionSettings = attrs.field(factory=RetentionSettings, converter=_to_retention)
    rate_limits: RateLimitSettings = attrs.field(factory=RateLimitSettings, converter=_to_rate_limits)
    # Minutes of agent silence after which a handed-off conversation goes back to the bot.
    handoff_idle_release_minutes: int = attrs.field(default=60, validator=_positive)
    # WhatsApp template sent when the 24-hour customer-service window is closed ("" = none configured).
    whatsapp_reengagement_template: str = ""
    whatsapp_template_language: str = "en_US"

    def __attrs_post_init__(self) -> None:
        if not _LOCALE.match(self.locale):
            raise InvariantViolation(
                f"locale {self.locale!r} is not a language tag like 'en' or 'pt-BR'",
                details={"field": "locale"},
            )
        if any(not keyword.strip() for keyword in self.handoff_keywords):
            raise InvariantViolation("handoff keywords must not be blank", details={"field": "handoff_keywords"})

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TenantSettings:
        return _nested(cls, values)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    def patched(self, patch: dict[str, Any]) -> TenantSettings:
        """Apply a partial update: nested sections merge, everything else replaces."""
        return TenantSettings.from_dict(_deep_merge(self.to_dict(), patch))

    @property
    def language(self) -> str:
        return re.split(r"[-_]", self.locale)[0].lower()


@attrs.define
class Tenant:
    id: TenantId
    name: str
    settings: TenantSettings = attrs.field(factory=lambda: TenantSettings())
    created_at: datetime = attrs.field(factory=utc_now)
    updated_at: datetime = attrs.field(factory=utc_now)

    def __attrs_post_init__(self) -> None:
        self.name = _checked_name(self.name)

    def rename(self, name: str) -> None:
        self.name = _checked_name(name)
        self.touch()

    def change_settings(self, settings: TenantSettings) -> None:
        self.settings = settings
        self.touch()

    def touch(self) -> None:
        self.updated_at = utc_now()


def _checked_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 200:
        raise InvariantViolation("tenant name must be 1 to 200 characters", details={"field": "name"})
    return cleaned


def _nested(cls: type[T], value: T | dict[str, Any]) -> T:
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise InvariantViolation(f"{cls.__name__} must be an object")
    known = {field.name for field in attrs.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(value) - known)
    if unknown:
        raise InvariantViolation(f"unknown {cls.__name__} fields", details={"unknown": unknown})
    try:
        return cls(**value)
    except (TypeError, ValueError) as error:
        raise InvariantViolation(f"invalid {cls.__name__}: {error}") from error


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
