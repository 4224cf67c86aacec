"""HTML text with the standard library's html.parser: headings build the heading path, list items and table rows
keep their shape, and page chrome (scripts, styles, navigation, footers) is dropped.

html.parser is a tokenizer, so nesting depth costs nothing; the input is pre-cleaned so that the constructs
that make it quadratic on Python 3.11 (unterminated comments, declarations, stray "<") cannot reach it.
"""

from html.parser import HTMLParser

import attrs

from adapters.documents.blocks import BlockCollector, looks_like_question
from adapters.documents.text_cleanup import clean_code, clean_inline
from domain.knowledge.parsed import BlockKind, DocumentFormat, ParsedDocument

_SKIPPED = frozenset(
    {"script", "style", "noscript", "template", "svg", "math", "nav", "footer", "iframe", "object", "select"}
)
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# Tags that end the current run of text; everything else (a, span, em, b…) is inline.
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "aside", "blockquote", "figure", "figcaption",
        "address", "details", "summary", "form", "fieldset", "legend", "hr", "br", "li", "ul", "ol", "dl", "dt",
        "dd", "pre", "table", "caption", "tr", "td", "th", "thead", "tbody", "tfoot", "body", "html", "center",
        *_HEADINGS,
    }
)  # fmt: skip
# Terms that head the text after them: FAQ pages put questions in <dt> or <details><summary>.
_TERM_TAGS = frozenset({"dt", "summary"})
_TERM_CONTAINERS = frozenset({"dl", "details"})
_BOLD_TAGS = frozenset({"b", "strong"})
_MAX_LIST_DEPTH = 8
_MAX_TABLE_DEPTH = 16
_MAX_TITLE_CHARS = 300


def load_html(text: str) -> ParsedDocument:
    reader = _HtmlReader()
    reader.feed(defuse_html(text))
    reader.close()
    reader.finish()
    collector = reader.collector
    return ParsedDocument(
        format=DocumentFormat.HTML,
        title=clean_inline(reader.title) or collector.first_heading,
        blocks=tuple(collector.blocks),
        page_count=None,
    )


def defuse_html(text: str) -> str:
    """Remove comments and escape the markup html.parser rescans to the end of input when left open.

    Python 3.11's parser goes quadratic on thousands of unterminated "<!--", "<!", "</" or "<"; browsers show
    none of them as text anyway (or show a literal "<", which escaping keeps).
    """
    parts: list[str] = []
    position = 0
    while True:
        start = text.find("<!--", position)
        if start < 0:
            parts.append(text[position:])
            break
        parts.append(text[position:start])
        end = text.find("-->", start + 4)
        if end < 0:  # an unterminated comment runs to the end of the document
            break
        position = end + 3
    defused = "".join(parts).replace("<![", "&lt;![")
    last_close = defused.rfind(">")
    if "<" in defused[last_close + 1 :]:
        defused = defused[: last_close + 1] + defused[last_close + 1 :].replace("<", "&lt;")
    return defused


@attrs.define
class _List:
    ordered: bool
    items: int = 0


@attrs.define
class _Table:
    rows: list[str] = attrs.Factory(list)
    cells: list[str] = attrs.Factory(list)
    cell: list[str] | None = None


class _HtmlReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.collector = BlockCollector()
        self.title = ""
        self._in_title = False
        self._skip_depth: dict[str, int] = {}
        self._text: list[str] = []
        self._bold_chars = 0
        self._text_chars = 0
        self._bold_depth = 0
        self._kind = BlockKind.PARAGRAPH
        self._heading_level = 0
        self._list_prefix = ""
        self._lists: list[_List] = []
        self._pre_depth = 0
        self._tables: list[_Table] = []

    def _skipping(self) -> bool:
        return any(self._skip_depth.values())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # A title holds no tags: any tag means its end tag is missing.
        self._in_title = tag == "title"
        if tag in _SKIPPED:
            self._skip_depth[tag] = self._skip_depth.get(tag, 0) + 1
            return
        if self._in_title or self._skipping():
            return
        if tag in _BOLD_TAGS:
            self._bold_depth += 1
        if tag in _BLOCK_TAGS:
            self._start_block(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <hr/>, <svg/>: a self-closed element opens nothing.
        if tag in _BLOCK_TAGS and not self._skipping():
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            if self._skip_depth.get(tag):
                self._skip_depth[tag] -= 1
            return
        if tag == "title":
            self._in_title = False
            return
        if self._skipping():
            return
        if tag in _BOLD_TAGS:
            self._bold_depth = max(0, self._bold_depth - 1)
        if tag in _BLOCK_TAGS:
            self._end_block(tag)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title + data)[:_MAX_TITLE_CHARS]
            return
        if self._skipping():
            return
        if self._tables and self._tables[-1].cell is not None:
            self._tables[-1].cell.append(data)
            return
        self._text.append(data)
        visible = len(data.strip())
        self._text_chars += visible
        if self._bold_depth:
            self._bold_chars += visible

    def _start_block(self, tag: str) -> None:
        if self._tables and tag not in ("table", "tr", "td", "th", "caption"):
            table = self._tables[-1]
            if table.cell is not None:  # block structure inside a cell only separates words
                table.cell.append(" ")
                return
        self._flush()
        if tag in _HEADINGS:
            self._kind, self._heading_level = BlockKind.HEADING, _HEADINGS[tag]
        elif tag in _TERM_TAGS:
            self._kind = BlockKind.HEADING
            self._heading_level = 0  # a question heading, nested under the current heading
        elif tag == "pre":
            self._pre_depth += 1
            self._kind = BlockKind.CODE
        elif tag in ("ul", "ol"):
            self._lists.append(_List(ordered=tag == "ol"))
        elif tag == "li":
            self._start_list_item()
        elif tag == "table":
            self._start_table()
        elif tag == "tr" and self._tables:
            self._end_row(self._tables[-1])
        elif tag in ("td", "th") and self._tables:
            table = self._tables[-1]
            self._end_cell(table)
            table.cell = []

    def _end_block(self, tag: str) -> None:
        if self._tables and tag not in ("table", "tr", "td", "th", "caption"):
            table = self._tables[-1]
            if table.cell is not None:
                table.cell.append(" ")
                return
        if tag == "table":
            self._end_table()
            return
        if tag == "tr" and self._tables:
            self._end_row(self._tables[-1])
            return
        if tag in ("td", "th") and self._tables:
            self._end_cell(self._tables[-1])
            return
        self._flush()
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        elif tag in ("ul", "ol") and self._lists:
            self._lists.pop()
        elif tag in _TERM_CONTAINERS:
            self.collector.close_term()
        # An element that ended empty must not pass its kind on to the text after it.
        self._kind = BlockKind.CODE if self._pre_depth else BlockKind.PARAGRAPH

    def _start_list_item(self) -> None:
        if not self._lists:
            self._lists.append(_List(ordered=False))
        current = self._lists[-1]
        current.items += 1
        indent = "  " * min(len(self._lists) - 1, _MAX_LIST_DEPTH)
        marker = f"{current.items}. " if current.ordered else "- "
        self._kind, self._list_prefix = BlockKind.LIST_ITEM, indent + marker

    def _start_table(self) -> None:
        if len(self._tables) >= _MAX_TABLE_DEPTH:
            return
        self._tables.append(_Table())

    def _end_cell(self, table: _Table) -> None:
        if table.cell is not None:
            table.cells.append(clean_inline("".join(table.cell)))
            table.cell = None

    def _end_row(self, table: _Table) -> None:
        self._end_cell(table)
        if any(table.cells):
            table.rows.append(" | ".join(table.cells))
        table.cells = []

    def _end_table(self) -> None:
        if not self._tables:
            return
        table = self._tables.pop()
        self._end_row(table)
        if self._tables:  # a nested table becomes text of the enclosing cell
            outer = self._tables[-1]
            if outer.cell is None:
                outer.cell = []
            outer.cell.append(" " + "; ".join(table.rows) + " ")
            return
        self.collector.add(BlockKind.TABLE, "\n".join(table.rows))

    def _flush(self) -> None:
        raw = "".join(self._text)
        all_bold = self._text_chars > 0 and self._bold_chars == self._text_chars
        self._text, self._bold_chars, self._text_chars = [], 0, 0
        text = clean_code(raw) if self._kind is BlockKind.CODE else clean_inline(raw)
        if not text:
            return
        kind, self._kind = self._kind, BlockKind.CODE if self._pre_depth else BlockKind.PARAGRAPH
        if kind is BlockKind.HEADING:
            if self._heading_level:
                self.collector.heading(self._heading_level, text)
            else:
                self.collector.term_heading(text)
        elif kind is BlockKind.LIST_ITEM:
            self.collector.add(kind, self._list_prefix + text)
        elif kind is BlockKind.PARAGRAPH and all_bold and looks_like_question(text):
            self.collector.term_heading(text)
        else:
            self.collector.add(kind, text)

    def finish(self) -> None:
        """Emit what unclosed tags left open at the end of the document."""
        self._flush()
        while self._tables:
            self._end_table()
