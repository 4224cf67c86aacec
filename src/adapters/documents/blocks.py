"""Collects TextBlocks in reading order while tracking the heading path they sit under."""

import attrs

from domain.knowledge.parsed import BlockKind, TextBlock

# A "heading" longer than this is a styled paragraph, not a title of a section.
MAX_HEADING_CHARS = 200


@attrs.define
class _OpenHeading:
    level: int
    text: str
    is_term: bool


class BlockCollector:
    """Heading levels come from the source format (h2, "Heading 2", "##").

    A term heading is a line that heads the text after it without being styled as a heading: a
    bold "How do I reset my password?", an HTML <dt> or <summary>, a Markdown definition term. It nests under
    the current heading, is replaced by the next term, and closes at the next real heading.
    """

    def __init__(self) -> None:
        self.blocks: list[TextBlock] = []
        self._open: list[_OpenHeading] = []

    @property
    def heading_path(self) -> tuple[str, ...]:
        return tuple(heading.text for heading in self._open)

    @property
    def first_heading(self) -> str | None:
        return next((block.text for block in self.blocks if block.kind is BlockKind.HEADING), None)

    def heading(self, level: int, text: str, page: int | None = None) -> None:
        if not text:
            return
        if len(text) > MAX_HEADING_CHARS:
            self.add(BlockKind.PARAGRAPH, text, page)
            return
        while self._open and (self._open[-1].is_term or self._open[-1].level >= level):
            self._open.pop()
        self._open.append(_OpenHeading(level, text, is_term=False))
        self.blocks.append(TextBlock(text, page, self.heading_path, BlockKind.HEADING))

    def term_heading(self, text: str, page: int | None = None) -> None:
        if not text:
            return
        if len(text) > MAX_HEADING_CHARS:
            self.add(BlockKind.PARAGRAPH, text, page)
            return
        while self._open and self._open[-1].is_term:
            self._open.pop()
        level = self._open[-1].level + 1 if self._open else 1
        self._open.append(_OpenHeading(level, text, is_term=True))
        self.blocks.append(TextBlock(text, page, self.heading_path, BlockKind.HEADING))

    def close_term(self) -> None:
        """The source marked where the term's text ends (</dl>, </details>)."""
        while self._open and self._open[-1].is_term:
            self._open.pop()

    def add(self, kind: BlockKind, text: str, page: int | None = None) -> None:
        if text.strip():
            self.blocks.append(TextBlock(text, page, self.heading_path, kind))


def looks_like_question(text: str) -> bool:
    return text.endswith(("?", "\uff1f", "\u061f")) and len(text) <= MAX_HEADING_CHARS
