"""Channels connect a tenant to WhatsApp, Messenger or the web chat widget."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

from domain.common.errors import InvariantViolation
from domain.common.ids import ChannelId, TenantId
from domain.common.time import utc_now


class ChannelKind(StrEnum):
    WHATSAPP = "whatsapp"
    MESSENGER = "messenger"
    WEBCHAT = "webchat"


# Which secrets each kind knows; anything else is refused so typos do not silently vanish.
SECRET_NAMES: dict[ChannelKind, frozenset[str]] = {
    ChannelKind.WHATSAPP: frozenset({"access_token", "app_secret", "verify_token"}),
    ChannelKind.MESSENGER: frozenset({"page_access_token", "app_secret", "verify_token"}),
    ChannelKind.WEBCHAT: frozenset(),
}

MAX_SECRET_CHARS = 4096
_NUMERIC_ID = re.compile(r"^[0-9]{5,32}$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\*$")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_WIDGET_ID = re.compile(r"^wgt_[A-Za-z0-9_-]{1,64}$")

# Config arrives as JSON from the API: a value of the wrong type (an object where text belongs) is refused
# here rather than stored and handed to the widget or to Meta later.
_text = attrs.validators.instance_of(str)


def _whole_number(_: object, attribute: attrs.Attribute[int], value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"'{attribute.name}' must be a whole number (got {value!r})")


@attrs.frozen
class WhatsAppConfig:
    phone_number_id: str = attrs.field(validator=_text)
    display_phone_number: str = attrs.field(default="", validator=_text)
    business_account_id: str = attrs.field(default="", validator=_text)
    # Meta allows 80 msg/s per business number by default; sends are paced below it.
    send_rate_per_second: int = attrs.field(default=20, validator=_whole_number)

    def __attrs_post_init__(self) -> None:
        if not _NUMERIC_ID.match(self.phone_number_id):
            raise InvariantViolation(
                "a WhatsApp channel needs a numeric phone_number_id",
                details={"field": "config.phone_number_id"},
            )
        if not 1 <= self.send_rate_per_second <= 1000:
            raise InvariantViolation(
                "send_rate_per_second must be between 1 and 1000",
                details={"field": "config.send_rate_per_second"},
            )

    @property
    def external_id(self) -> str:
        return self.phone_number_id


@attrs.frozen
class MessengerConfig:
    page_id: str = attrs.field(validator=_text)

    def __attrs_post_init__(self) -> None:
        if not _NUMERIC_ID.match(self.page_id):
            raise InvariantViolation("a Messenger channel needs a numeric page_id", details={"field": "config.page_id"})

    @property
    def external_id(self) -> str:
        return self.page_id


def new_widget_id() -> str:
    return "wgt_" + secrets.token_urlsafe(12)


@attrs.frozen
class WebChatConfig:
    widget_id: str = attrs.field(factory=new_widget_id, validator=_text)
    allowed_origins: tuple[str, ...] = attrs.field(
        default=(), validator=attrs.validators.deep_iterable(_text, attrs.validators.instance_of(tuple))
    )
    title: str = attrs.field(default="Chat with us", validator=_text)
    brand_color: str = attrs.field(default="#2563eb", validator=_text)
    position: str = attrs.field(default="right", validator=_text)
    greeting: str = attrs.field(default="Hi! How can I help you today?", validator=_text)
    avatar_url: str = attrs.field(default="", validator=_text)

    def __attrs_post_init__(self) -> None:
        if not _WIDGET_ID.match(self.widget_id):
            raise InvariantViolation(
                "widget_id is chosen by the platform (wgt_ and up to 64 letters, digits, - or _)",
                details={"field": "config.widget_id"},
            )
        bad = [origin for origin in self.allowed_origins if not _ORIGIN.match(origin)]
        if bad:
            raise InvariantViolation(
                "allowed_origins must be scheme://host[:port] without a path", details={"invalid": bad}
            )
        if self.position not in ("left", "right"):
            raise InvariantViolation("position must be 'left' or 'right'", details={"field": "config.position"})
        if not _COLOUR.match(self.brand_color):
            raise InvariantViolation("brand_color must look like #1a2b3c", details={"field": "config.brand_color"})

    @property
    def external_id(self) -> str:
        return self.widget_id

    def allows_origin(self, origin: str | None) -> bool:
        if "*" in self.allowed_origins:
            return True
        return origin is not None and origin.rstrip("/") in self.allowed_origins


ChannelConfig = WhatsAppConfig | MessengerConfig | WebChatConfig

CONFIG_TYPES: dict[ChannelKind, type[WhatsAppConfig] | type[MessengerConfig] | type[WebChatConfig]] = {
    ChannelKind.WHATSAPP: WhatsAppConfig,
    ChannelKind.MESSENGER: MessengerConfig,
    ChannelKind.WEBCHAT: WebChatConfig,
}


def build_config(kind: ChannelKind, raw: dict[str, Any]) -> ChannelConfig:
    """Turn the public config of a channel into its typed form, refusing unknown or missing fields."""
    config_type = CONFIG_TYPES[kind]
    known = {field.name for field in attrs.fields(config_type)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvariantViolation(f"unknown config fields for a {kind} channel", details={"unknown": unknown})
    values = dict(raw)
    if "allowed_origins" in values and isinstance(values["allowed_origins"], list):
        values["allowed_origins"] = tuple(values["allowed_origins"])
    try:
        return config_type(**values)
    except TypeError as error:
        raise InvariantViolation(f"invalid config for a {kind} channel: {error}") from error


@attrs.define
class Channel:
    id: ChannelId
    tenant_id: TenantId
    kind: ChannelKind
    name: str
    config: ChannelConfig
    # Plaintext only in memory; adapters encrypt them at rest and responses never show them.
    secrets: dict[str, str] = attrs.field(factory=dict)
    active: bool = True
    created_at: datetime = attrs.field(factory=utc_now)
    updated_at: datetime = attrs.field(factory=utc_now)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.config, CONFIG_TYPES[self.kind]):
            raise InvariantViolation(f"config does not belong to a {self.kind} channel")
        self.name = _checked_name(self.name)
        _check_secrets(self.kind, self.secrets)

    @property
    def external_id(self) -> str:
        """The id Meta (or the widget) uses for this channel; unique platform-wide per kind."""
        return self.config.external_id

    def reconfigure(self, *, name: str, config: ChannelConfig, secrets: dict[str, str] | None, active: bool) -> None:
        if not isinstance(config, CONFIG_TYPES[self.kind]):
            raise InvariantViolation(f"config does not belong to a {self.kind} channel")
        self.name = _checked_name(name)
        self.config = config
        if secrets is not None:
            _check_secrets(self.kind, secrets)
            # Write-only secrets: an omitted one keeps its value, an empty string removes it.
            merged = {**self.secrets, **secrets}
            self.secrets = {key: value for key, value in merged.items() if value}
        self.active = active
        self.updated_at = utc_now()

    def secret(self, name: str) -> str | None:
        return self.secrets.get(name) or None

    def masked_secrets(self) -> dict[str, str]:
        return {name: "********" for name in sorted(self.secrets)}


def _checked_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 200:
        raise InvariantViolation("channel name must be 1 to 200 characters", details={"field": "name"})
    return cleaned


def _check_secrets(kind: ChannelKind, values: dict[str, str]) -> None:
    unknown = sorted(set(values) - SECRET_NAMES[kind])
    if unknown:
        raise InvariantViolation(f"unknown secrets for a {kind} channel", details={"unknown": unknown})
    if any(len(value) > MAX_SECRET_CHARS for value in values.values()):
        raise InvariantViolation(f"a secret may be at most {MAX_SECRET_CHARS} characters")
