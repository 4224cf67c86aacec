"""Reading Meta webhook JSON defensively: any field may be missing or of another type."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import msgspec

from application.ports.channel_adapters import MalformedWebhook
from domain.common.text import ESCAPED_NUL, json_without_nul


def decode_body(body: bytes, expected_object: str) -> dict[str, Any]:
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError as error:
        raise MalformedWebhook("the webhook body is not valid JSON") from error
    if not isinstance(document, dict) or document.get("object") != expected_object:
        raise MalformedWebhook(f"this endpoint receives webhooks with object={expected_object!r}")
    if not isinstance(document.get("entry"), list):
        raise MalformedWebhook("the webhook body has no entry list")
    if ESCAPED_NUL.encode() in body:
        # Postgres text and jsonb cannot hold NUL characters; they carry no meaning in a chat message.
        cleaned: dict[str, Any] = json_without_nul(document)
        return cleaned
    return document


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_text(value: Any) -> str:
    """Strings as they are; numbers (ids sent as numbers) as their decimal text; anything else empty."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def content_hash(value: Any) -> str:
    """A stable key for an event that carries no id of its own."""
    return hashlib.sha256(msgspec.json.encode(value, order="sorted")).hexdigest()[:40]


def timestamp(value: Any, *, milliseconds: bool, fallback: datetime) -> datetime:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return fallback
    if milliseconds:
        number /= 1000
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return fallback
