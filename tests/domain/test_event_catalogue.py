from __future__ import annotations

import re
from pathlib import Path

from domain.events import EventType

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def test_every_event_type_is_documented_with_its_payload() -> None:
    rows = dict(re.findall(r"^\| `([a-z_]+\.[a-z_]+)`\s*\| (.+) \|$", DOCS.read_text(), re.M))
    assert set(rows) == {str(event_type) for event_type in EventType}
    assert all(row.strip() for row in rows.values())
