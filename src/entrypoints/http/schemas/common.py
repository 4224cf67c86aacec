from __future__ import annotations

from typing import Any

import msgspec

from domain.common.text import NUL


class Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False):
    """Request bodies refuse unknown fields, so a typo is an error instead of a silent no-op, and NUL
    characters, which Postgres text cannot hold (they would fail the write after the request was accepted)."""

    def __post_init__(self) -> None:
        # Nested Strict bodies check themselves; this walks the other values (strings, lists, free-form objects).
        for field in self.__struct_fields__:
            if _holds_nul(getattr(self, field)):
                raise ValueError(f"{field} must not contain NUL (\\u0000) characters")


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, Strict):
        return False
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(_holds_nul(item) for item in value)
    if isinstance(value, msgspec.Struct):
        return any(_holds_nul(getattr(value, field)) for field in value.__struct_fields__)
    return False


def to_plain(value: Any) -> Any:
    """Struct → dict/list of builtins, leaving out fields the caller did not send."""
    return msgspec.to_builtins(value)
