"""NUL characters carry no meaning in a conversation, and Postgres text and jsonb cannot hold them: text
that comes from outside (users on Meta channels or the widget, language models, tenants' tools) is stored
without them, instead of failing the write that would store it."""

from __future__ import annotations

import json
from typing import Any

NUL = "\x00"
# How JSON text spells a NUL inside a string.
ESCAPED_NUL = "\\u0000"


def without_nul(text: str) -> str:
    return text.replace(NUL, "") if NUL in text else text


def json_without_nul(value: Any) -> Any:
    """A decoded JSON value with every NUL taken out of its strings (object keys included)."""
    if isinstance(value, str):
        return without_nul(value)
    if isinstance(value, list):
        return [json_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {json_without_nul(key): json_without_nul(item) for key, item in value.items()}
    return value


def holds_nul(value: Any) -> bool:
    """Whether a decoded JSON value has a NUL in any of its strings (object keys included); values of other
    types (numbers, objects that check themselves) hold none."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, (list, tuple)):
        return any(holds_nul(item) for item in value)
    if isinstance(value, dict):
        return any(holds_nul(key) or holds_nul(item) for key, item in value.items())
    return False


def json_text_without_nul(text: str) -> str:
    """JSON text (a model's tool-call arguments) whose strings hold no NUL once decoded; text that is not
    JSON keeps its escapes (it is refused as JSON later anyway) and loses only literal NULs."""
    text = without_nul(text)
    if ESCAPED_NUL not in text:
        return text
    try:
        return json.dumps(json_without_nul(json.loads(text)), ensure_ascii=False)
    except ValueError:
        return text
