from __future__ import annotations

from typing import Any

import msgspec

from domain.common.text import holds_nul


class Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False):
    """Request bodies refuse unknown fields, so a typo is an error instead of a silent no-op, and NUL
    characters, which Postgres text cannot hold (they would fail the write after the request was accepted)."""

    def __post_init__(self) -> None:
        # Nested bodies are Strict too and check themselves; this walks strings, lists and free-form objects.
        for field in self.__struct_fields__:
            if holds_nul(getattr(self, field)):
                raise ValueError(f"{field} must not contain NUL (\\u0000) characters")


def to_plain(value: Any) -> Any:
    """Struct → dict/list of builtins, leaving out fields the caller did not send."""
    return msgspec.to_builtins(value)
