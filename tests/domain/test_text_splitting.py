from __future__ import annotations

import re

import pytest

from domain.conversations.splitting import split_text


def _rejoined(parts: list[str]) -> str:
    return re.sub(r"\s+", " ", " ".join(parts))


def test_short_text_is_one_part() -> None:
    assert split_text("Hello there.", 2000) == ["Hello there."]


def test_long_text_is_cut_after_sentences_within_the_limit() -> None:
    sentence = "This sentence has exactly some words in it. "
    text = sentence * 100
    parts = split_text(text, 200)
    assert all(len(part) <= 200 for part in parts)
    assert all(part.endswith(".") for part in parts)
    assert _rejoined(parts) == _rejoined([text.strip()])


def test_paragraph_breaks_are_preferred_over_sentence_ends() -> None:
    first = "One. Two. Three. " * 4 + "End of paragraph."
    text = first + "\n\n" + "Next paragraph starts here. " * 3
    parts = split_text(text, len(first) + 10)
    assert parts[0] == first


def test_text_without_spaces_is_hard_cut_without_splitting_joined_emoji() -> None:
    family = "👨\u200d👩\u200d👧"
    text = family * 40
    parts = split_text(text, 11)
    assert "".join(parts) == text
    assert all(len(part) <= 11 for part in parts)
    # Every part starts at a family's first person: no ZWJ sequence was separated.
    assert all(part.startswith("👨") for part in parts)


def test_seventy_thousand_characters_fit_whatsapp_and_messenger_limits() -> None:
    text = ("Sentence number one is here. Und zwei — ثلاثة? 四。 " * 1500)[:70_000]
    for limit in (4096, 2000):
        parts = split_text(text, limit)
        assert all(len(part) <= limit for part in parts)
        assert _rejoined(parts) == _rejoined([text.strip()])


def test_cjk_text_is_cut_after_full_stops() -> None:
    text = "これは文です。" * 100
    parts = split_text(text, 50)
    assert all(part.endswith("。") for part in parts)
    assert "".join(parts) == text


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        split_text("x", 0)
