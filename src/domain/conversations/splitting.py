"""Splitting long replies so each part fits a channel's length limit, cutting where a reader would."""

from __future__ import annotations

import re
import unicodedata

# Each pattern's match end is a candidate cut; whitespace right after a cut is trimmed away.
_CUT_PATTERNS = (
    re.compile(r"\S(?=[ \t]*\n[ \t]*\n)"),  # end of a paragraph
    # end of a sentence: Latin punctuation before whitespace, or CJK full stops (no space follows them)
    re.compile("[.!?\u2026][\"'\u201d\u2019)\\]]*(?=\\s)|[\u3002\uff01\uff1f]"),
    re.compile(r"\S(?=\s)"),  # end of a word
)


def split_text(text: str, limit: int) -> list[str]:
    """Parts of at most `limit` characters that, joined with the whitespace cut at, give back `text`.

    Preference order for a cut: paragraph break, sentence end, word end, then a hard cut. A cut
    earlier than half the limit is not taken, so replies never turn into a string of tiny parts.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    parts: list[str] = []
    remaining = text.strip()
    while len(remaining) > limit:
        cut = _best_cut(remaining, limit)
        parts.append(remaining[:cut].rstrip())
        remaining = remaining[cut:].lstrip()
    if remaining:
        parts.append(remaining)
    return parts


def _best_cut(text: str, limit: int) -> int:
    window = text[: limit + 1]
    floor = max(1, limit // 2)
    for pattern in _CUT_PATTERNS:
        cuts = [match.end() for match in pattern.finditer(window) if floor <= match.end() <= limit]
        if cuts:
            return max(cuts)
    return _hard_cut(text, limit)


def _hard_cut(text: str, limit: int) -> int:
    cut = limit
    # Keep a character together with the combining marks, variation selectors and joiners after it.
    while cut > 1 and (_joins_previous(text[cut]) or text[cut - 1] == "\u200d"):
        cut -= 1
    return cut


def _joins_previous(char: str) -> bool:
    return char == "\u200d" or "\ufe00" <= char <= "\ufe0f" or unicodedata.combining(char) != 0
