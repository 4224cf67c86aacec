"""Whitespace, invisible-character and hyphenation clean-up shared by the loaders. All linear in the input."""

import re

# Zero-width space, soft hyphen, stray byte-order marks and control characters carry no text. Zero-width
# (non-)joiners and direction marks are kept: emoji sequences and RTL text depend on them.
_INVISIBLE = re.compile("[\u200b\u00ad\ufeff\x00-\x08\x0e-\x1f\x7f]")
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_ANY_SPACE = re.compile(r"\s+")
_LETTER = r"[^\W\d_]"
# Hyphenated compounds written on one line ("well-known"): evidence that a hyphen at a line end is real.
_COMPOUND = re.compile(rf"(?<![\w-]){_LETTER}{{1,40}}-{_LETTER}{{1,40}}(?![\w-])")
_WORD_EDGE_CHARS = 40


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def clean_inline(text: str) -> str:
    """One line of text: invisible characters dropped, every whitespace run (newlines too) made one space."""
    return _ANY_SPACE.sub(" ", _INVISIBLE.sub("", text)).strip()


def clean_lines(text: str) -> list[str]:
    """Lines with invisible characters dropped and inner whitespace runs collapsed; blank lines become ""."""
    cleaned = _HORIZONTAL_SPACE.sub(" ", _INVISIBLE.sub("", normalise_newlines(text)))
    return [line.strip() for line in cleaned.split("\n")]


def clean_code(text: str) -> str:
    """Code keeps its indentation; only trailing spaces and surrounding blank lines go."""
    lines = [line.rstrip() for line in _INVISIBLE.sub("", normalise_newlines(text)).expandtabs(4).split("\n")]
    return "\n".join(lines).strip("\n")


def hyphenated_compounds(text: str) -> frozenset[str]:
    return frozenset(match.group().lower() for match in _COMPOUND.finditer(text))


def join_wrapped_lines(lines: list[str], compounds: frozenset[str] = frozenset()) -> str:
    """Join the lines of one paragraph, undoing hyphenation at line ends.

    "inter-" + "national" becomes "international", unless the document writes "inter-national" on a single
    line elsewhere (it is then a real compound and keeps its hyphen); a hyphen before an uppercase letter or a
    digit ("Jean-" + "Pierre", "COVID-" + "19") is always kept.
    """
    parts: list[str] = []
    for line in lines:
        if not line:
            continue
        if parts and parts[-1].endswith("-") and _is_word_break(parts[-1], line):
            left = _trailing_word(parts[-1][:-1])
            right = _leading_word(line)
            keep_hyphen = not right[:1].islower() or f"{left}-{right}".lower() in compounds
            parts[-1] = parts[-1] if keep_hyphen else parts[-1][:-1]
            parts.append(line)
            continue
        if parts:
            parts.append(" ")
        parts.append(line)
    return "".join(parts)


def _is_word_break(previous: str, line: str) -> bool:
    """A line ending in letter + hyphen, continued by a word: "inter-" / "national", not "pages 3 -" / "4"."""
    return len(previous) >= 2 and previous[-2].isalpha() and line[:1].isalnum()


def _trailing_word(text: str) -> str:
    start = len(text)
    while start > 0 and len(text) - start < _WORD_EDGE_CHARS and text[start - 1].isalpha():
        start -= 1
    return text[start:]


def _leading_word(text: str) -> str:
    end = 0
    while end < len(text) and end < _WORD_EDGE_CHARS and text[end].isalpha():
        end += 1
    return text[:end]
