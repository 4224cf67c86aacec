from __future__ import annotations

from typing import Any

import msgspec


class Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False):
    """Request bodies refuse unknown fields, so a typo is an error instead of a silent no-op."""


def to_plain(value: Any) -> Any:
    """Struct → dict/list of builtins, leaving out fields the caller did not send."""
    return msgspec.to_builtins(value)
