"""Sources behind an answer: the passages the assistant was shown carry numbers ([1], [2] …); the
answer cites them with those markers, and each channel shows the cited documents its own way
(numbered footnotes with titles on WhatsApp/Messenger, links in the web chat widget)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import attrs

# "[1]", "[1, 3]", "[1][2]": markers a model writes after a sentence it took from passage 1 (and 3);
# adjacent markers are read as one run, so two passages of one document cite it once.
_MARKER = re.compile(r"(?:\[\d{1,3}(?:\s*,\s*\d{1,3})*\])+")
_NUMBER = re.compile(r"\d{1,3}")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"[ \t]+([.,;:!?])")


@attrs.frozen
class Source:
    """One passage shown to the assistant during a turn, under the number it was shown with."""

    number: int
    document_id: str
    title: str
    text: str
    chunk_id: str = ""
    url: str | None = None
    score: float = 0.0


@attrs.frozen
class Citation:
    """One cited document, numbered in the order the answer first cites it."""

    number: int
    document_id: str
    title: str
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "document_id": self.document_id, "title": self.title, "url": self.url}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Citation:
        return cls(
            number=int(raw["number"]),
            document_id=str(raw["document_id"]),
            title=str(raw.get("title", "")),
            url=raw.get("url"),
        )


@attrs.frozen
class CitedAnswer:
    text: str
    citations: tuple[Citation, ...]


def resolve_citations(answer: str, sources: Sequence[Source]) -> CitedAnswer:
    """Renumber the answer's markers by document, in order of first citation; drop markers that name
    no passage. Several passages of one document become one citation."""
    by_number = {source.number: source for source in sources}
    numbering: dict[str, Citation] = {}

    def replace(match: re.Match[str]) -> str:
        cited: list[int] = []
        for part in _NUMBER.findall(match.group(0)):
            source = by_number.get(int(part))
            if source is None:
                continue
            citation = numbering.get(source.document_id)
            if citation is None:
                citation = Citation(len(numbering) + 1, source.document_id, source.title or "untitled", source.url)
                numbering[source.document_id] = citation
            if citation.number not in cited:
                cited.append(citation.number)
        return "".join(f"[{number}]" for number in cited)

    text = _MARKER.sub(replace, answer)
    # A dropped marker leaves "word ." behind.
    text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)
    return CitedAnswer(text=text.strip(), citations=tuple(numbering.values()))


def with_footnotes(text: str, citations: Sequence[Citation], heading: str) -> str:
    """Plain-text channels: the answer followed by "Sources:" and one numbered line per document."""
    if not citations:
        return text
    lines = [f"[{citation.number}] {citation.title}" for citation in citations]
    return f"{text}\n\n{heading}:\n" + "\n".join(lines)
