"""Markdown read line by line (CommonMark's block structure, simplified): ATX and setext headings, lists,
fenced code, pipe tables, block quotes and definition terms. Inline markup is reduced to its text.

Every pattern is anchored or bounded, so a megabyte-long line or thousands of nested quotes stay linear.
"""

import html
import re

from adapters.documents.blocks import BlockCollector, looks_like_question
from adapters.documents.text_cleanup import (
    clean_code,
    clean_inline,
    hyphenated_compounds,
    join_wrapped_lines,
    normalise_newlines,
)
from domain.knowledge.parsed import BlockKind, DocumentFormat, ParsedDocument

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]|$)")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_LIST_ITEM = re.compile(r"^([ \t]*)([-*+]|\d{1,9}[.)])[ \t]+(?=\S)")
_BLOCK_QUOTE = re.compile(r"^(?:[ \t]{0,3}>[ \t]?){1,100}")
_TABLE_DELIMITER_CELL = re.compile(r"[ \t]*:?-+:?[ \t]*")
_DEFINITION = re.compile(r"^ {0,3}:[ \t]+(?=\S)")
_FRONT_MATTER_TITLE = re.compile(r"^title:\s*(.+)$")
_MAX_FRONT_MATTER_LINES = 200
_MAX_LIST_DEPTH = 8
_MAX_TABLE_COLUMNS = 64

_CODE_SPAN = re.compile(r"`([^`\n]{1,2000}+)`")
_HELD_START, _HELD_END = "\ue000", "\ue001"
_HELD = re.compile(f"{_HELD_START}(\\d+){_HELD_END}")
# Possessive quantifiers and classes without "[" keep "[a](" repeated a million times linear: a failed
# candidate gives up at once instead of rescanning the next thousand characters.
_IMAGE = re.compile(r"!\[([^\[\]\n]{0,500}+)\]\([^()\[\]\n]{0,2000}+\)")
_LINK = re.compile(r"\[([^\[\]\n]{1,500}+)\]\(<?([^()\[\]\s<>]{0,2000}+)>?(?:[ \t]+\"[^\"\n]{0,500}+\")?\)")
_REFERENCE_LINK = re.compile(r"\[([^\[\]\n]{1,500}+)\]\[[^\[\]\n]{0,200}+\]")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^<>\s]{1,2000}+)>")
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]{0,30}(?:\s[^<>\n]{0,500})?/?>")
# Inner classes exclude the delimiter, so a scan for the closing mark ends at the next candidate opening.
_STRONG_STARS = re.compile(r"\*\*(?=[^\s*])([^*\n]{1,500}+)(?<=\S)\*\*")
_STRONG_UNDERSCORES = re.compile(r"__(?=[^\s_])([^_\n]{1,500}+)(?<=\S)__")
_EMPHASIS_STAR = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]{1,500}?)(?<=\S)\*(?![\w*])")
_EMPHASIS_UNDERSCORE = re.compile(r"(?<![\w_])_(?=[^\s_])([^_\n]{1,500}?)(?<=\S)_(?![\w_])")
_STRIKETHROUGH = re.compile(r"~~(?=[^\s~])([^~\n]{1,500}+)(?<=\S)~~")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<])")


def load_markdown(text: str) -> ParsedDocument:
    lines = normalise_newlines(text).split("\n")
    title, first_line = _front_matter(lines)
    reader = _MarkdownReader(lines, first_line, hyphenated_compounds(text))
    reader.read()
    return ParsedDocument(
        format=DocumentFormat.MD,
        title=title or reader.collector.first_heading,
        blocks=tuple(reader.collector.blocks),
        page_count=None,
    )


def _front_matter(lines: list[str]) -> tuple[str | None, int]:
    """YAML front matter ("---" … "---") is metadata, not text; its `title:` is the document title."""
    if not lines or lines[0].strip() != "---":
        return None, 0
    title: str | None = None
    for index in range(1, min(len(lines), _MAX_FRONT_MATTER_LINES)):
        line = lines[index].strip()
        if line in ("---", "..."):
            return title, index + 1
        match = _FRONT_MATTER_TITLE.match(line)
        if match:
            title = clean_inline(match.group(1).strip("\"'")) or None
    return None, 0


def inline_text(text: str) -> str:
    """Markdown inline markup reduced to what a reader sees; code spans are kept verbatim."""
    spans: list[str] = []

    def hold(match: re.Match[str]) -> str:
        spans.append(match.group(1).strip())
        return f"{_HELD_START}{len(spans) - 1}{_HELD_END}"

    # Code spans step aside (as private-use placeholders) while the rest of the markup is stripped.
    def restore(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return spans[index] if index < len(spans) else match.group()

    plain = _plain(_CODE_SPAN.sub(hold, text))
    return clean_inline(_HELD.sub(restore, plain) if spans else plain)


def _link_text(match: re.Match[str]) -> str:
    label, target = match.group(1), match.group(2)
    if target.startswith(("http://", "https://", "mailto:")) and target != label:
        return f"{label} ({target})"  # an answer may need to cite the address
    return label


def _plain(text: str) -> str:
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(_link_text, text)
    text = _REFERENCE_LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _TAG.sub("", text)
    text = _STRONG_STARS.sub(r"\1", text)
    text = _STRONG_UNDERSCORES.sub(r"\1", text)
    text = _EMPHASIS_STAR.sub(r"\1", text)
    text = _EMPHASIS_UNDERSCORE.sub(r"\1", text)
    text = _STRIKETHROUGH.sub(r"\1", text)
    text = _ESCAPE.sub(r"\1", text)
    return html.unescape(text)


def _table_cells(line: str) -> list[str]:
    row = line.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    # A row of thousands of "|" is not a table anyone wrote; extra columns stay in the last cell.
    cells = re.split(r"(?<!\\)\|", row, maxsplit=_MAX_TABLE_COLUMNS - 1)
    return [cell.replace("\\|", "|") for cell in cells]


def _is_table_delimiter(line: str) -> bool:
    return "-" in line and all(_TABLE_DELIMITER_CELL.fullmatch(cell) for cell in _table_cells(line))


def _bold_line(text: str) -> str | None:
    """The inner text of a paragraph that is bold as a whole ("**How do I pay?**")."""
    for marker in ("**", "__"):
        if len(text) > 4 and text.startswith(marker) and text.endswith(marker) and marker not in text[2:-2]:
            return text[2:-2]
    return None


class _MarkdownReader:
    def __init__(self, lines: list[str], first_line: int, compounds: frozenset[str]) -> None:
        self.collector = BlockCollector()
        self._compounds = compounds
        self._lines = lines
        self._index = first_line
        self._paragraph: list[str] = []

    def read(self) -> None:
        while self._index < len(self._lines):
            line = self._lines[self._index]
            quote = _BLOCK_QUOTE.match(line)
            if quote:  # quoted text is read as the text it quotes
                line = line[quote.end() :]
            self._read_line(line)
        self._close_paragraph()

    def _read_line(self, line: str) -> None:
        stripped = line.strip()
        if not stripped:
            self._close_paragraph()
            self._index += 1
        elif fence := _FENCE.match(line):
            self._close_paragraph()
            self._read_fenced_code(fence.group(1))
        elif heading := _ATX.match(line):
            self._close_paragraph()
            self.collector.heading(len(heading.group(1)), inline_text(_atx_text(line[heading.end() :])))
            self._index += 1
        elif self._paragraph and _SETEXT_UNDERLINE.match(line):
            level = 1 if stripped.startswith("=") else 2
            self.collector.heading(level, inline_text(" ".join(self._paragraph)))
            self._paragraph = []
            self._index += 1
        elif _THEMATIC_BREAK.match(line):
            self._close_paragraph()
            self._index += 1
        elif item := _LIST_ITEM.match(line):
            self._close_paragraph()
            self._read_list_item(item, line)
        elif "|" in line and self._next_is_table_delimiter():
            self._close_paragraph()
            self._read_table()
        elif len(self._paragraph) == 1 and (definition := _DEFINITION.match(line)):
            # "Term" then ": definition": the term heads its definition.
            self.collector.term_heading(inline_text(self._paragraph[0]))
            self._paragraph = [line[definition.end() :].strip()]
            self._index += 1
        else:
            self._paragraph.append(stripped)
            self._index += 1

    def _close_paragraph(self) -> None:
        if not self._paragraph:
            return
        raw = join_wrapped_lines(self._paragraph, self._compounds)
        self._paragraph = []
        bold = _bold_line(raw)
        text = inline_text(raw)
        if bold is not None and looks_like_question(text):
            self.collector.term_heading(text)
        else:
            self.collector.add(BlockKind.PARAGRAPH, text)

    def _next_is_table_delimiter(self) -> bool:
        following = self._index + 1
        return following < len(self._lines) and _is_table_delimiter(self._lines[following])

    def _read_fenced_code(self, fence: str) -> None:
        start = self._index + 1
        end = start
        while end < len(self._lines):
            closing = _FENCE.match(self._lines[end])
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence):
                break
            end += 1
        self.collector.add(BlockKind.CODE, clean_code("\n".join(self._lines[start:end])))
        self._index = end + 1

    def _read_list_item(self, item: re.Match[str], line: str) -> None:
        depth = min(len(item.group(1).expandtabs(4)) // 2, _MAX_LIST_DEPTH)
        marker = item.group(2)
        text = [line[item.end() :].strip()]
        self._index += 1
        # Lazy continuation: following lines belong to the item until a blank line or another block.
        while self._index < len(self._lines):
            following = self._lines[self._index]
            if (
                not following.strip()
                or _LIST_ITEM.match(following)
                or _ATX.match(following)
                or _FENCE.match(following)
                or _BLOCK_QUOTE.match(following)
                or _THEMATIC_BREAK.match(following)
            ):
                break
            text.append(following.strip())
            self._index += 1
        prefix = "  " * depth + ("- " if marker in "-*+" else f"{marker} ")
        self.collector.add(BlockKind.LIST_ITEM, prefix + inline_text(" ".join(text)))

    def _read_table(self) -> None:
        rows = [" | ".join(inline_text(cell) for cell in _table_cells(self._lines[self._index]))]
        self._index += 2  # header and delimiter
        while self._index < len(self._lines):
            line = self._lines[self._index]
            if not line.strip() or "|" not in line:
                break
            cells = [inline_text(cell) for cell in _table_cells(line)]
            if any(cells):
                rows.append(" | ".join(cells))
            self._index += 1
        self.collector.add(BlockKind.TABLE, "\n".join(rows))


def _atx_text(rest: str) -> str:
    """Heading text without the optional closing run of "#" ("## Title ##")."""
    text = rest.strip()
    without_closing = text.rstrip("#")
    if without_closing != text and (not without_closing or without_closing[-1] in " \t"):
        return without_closing.strip()
    return text
