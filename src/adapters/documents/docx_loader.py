"""DOCX body text with python-docx, in body order: headings from "Heading N" styles or outline levels,
list paragraphs as list items, tables as "cell | cell" rows.

Word stores where it last broke pages (w:lastRenderedPageBreak); when a file has those, blocks get page
numbers from them. Files written by other tools have none, and their blocks have no page.
"""

import io
import re
import zipfile
from collections.abc import Iterable

import attrs
import docx
from docx.oxml.text.parfmt import CT_PPr
from docx.styles.style import ParagraphStyle
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

from adapters.documents.blocks import BlockCollector, looks_like_question
from adapters.documents.text_cleanup import clean_inline
from application.ports.documents import DocumentParseError
from domain.knowledge.parsed import BlockKind, DocumentFormat, ParsedDocument

_MAIN_PART = "word/document.xml"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# A zip bomb inflates to gigabytes from a small upload; real documents stay far below this.
_MAX_UNPACKED_BYTES = 512 * 1024 * 1024
_HEADING_STYLE = re.compile(r"heading\s*(\d)", re.IGNORECASE)
_BODY_TEXT_OUTLINE_LEVEL = 9  # w:outlineLvl 0-8 are heading levels 1-9; 9 is body text
_MAX_STYLE_INHERITANCE = 4
_MAX_LIST_DEPTH = 8
_MAX_NESTED_TABLE_DEPTH = 4
_RENDERED_PAGE_BREAK = ".//w:lastRenderedPageBreak"


def load_docx(data: bytes) -> ParsedDocument:
    if data.startswith(_OLE2_MAGIC):
        raise DocumentParseError("DOCX is encrypted (password-protected)")
    _check_package(data)
    try:
        document = docx.Document(io.BytesIO(data))
        body = document.element.body
        paged = bool(body.xpath(_RENDERED_PAGE_BREAK))
        collector = BlockCollector()
        title = _DocxReader(collector, paged).read(document.iter_inner_content())
        core_title = (document.core_properties.title or "").strip()
    except DocumentParseError:
        raise
    except Exception as error:  # python-docx and lxml raise many kinds of errors on damaged packages
        raise DocumentParseError(f"not a valid DOCX file: {str(error)[:120] or type(error).__name__}") from error
    return ParsedDocument(
        format=DocumentFormat.DOCX,
        title=core_title or title or collector.first_heading,
        blocks=tuple(collector.blocks),
        page_count=collector.blocks[-1].page if paged and collector.blocks else None,
    )


def _check_package(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise DocumentParseError("not a valid DOCX (zip) file: damaged or truncated") from error
    if not any(entry.filename == _MAIN_PART for entry in entries):
        raise DocumentParseError(f"not a valid DOCX file: {_MAIN_PART} is missing")
    if sum(entry.file_size for entry in entries) > _MAX_UNPACKED_BYTES:
        raise DocumentParseError("DOCX unpacks to more than 512 MB; refusing to read it")


@attrs.frozen
class _StyleFacts:
    name: str
    bold: bool
    outline_level: int | None  # 1-based heading level the style gives, if any


class _DocxReader:
    def __init__(self, collector: BlockCollector, paged: bool) -> None:
        self._collector = collector
        self._page: int | None = 1 if paged else None
        # python-docx resolves a paragraph's style by scanning every style in the document on each access.
        self._styles: dict[str | None, _StyleFacts] = {}

    def read(self, items: Iterable[Paragraph | Table]) -> str | None:
        """Collects blocks; returns the text of the first "Title"-styled paragraph, if any."""
        title: str | None = None
        for item in items:
            if isinstance(item, Paragraph):
                paragraph_title = self._paragraph(item)
                title = title or paragraph_title
            elif isinstance(item, Table):
                self._table(item)
        return title

    def _advance_page(self, breaks: int) -> None:
        if self._page is not None:
            self._page += breaks

    def _style(self, paragraph: Paragraph) -> _StyleFacts:
        style_id = paragraph._p.style
        if style_id not in self._styles:
            self._styles[style_id] = _style_facts(paragraph.style)
        return self._styles[style_id]

    def _paragraph(self, paragraph: Paragraph) -> str | None:
        breaks = paragraph.rendered_page_breaks
        # A break before any content means the paragraph itself starts the new page.
        if breaks and breaks[0].preceding_paragraph_fragment is None:
            self._advance_page(1)
            breaks = breaks[1:]
        page = self._page
        self._advance_page(len(breaks))
        text = clean_inline(paragraph.text)
        if not text:
            return None
        style = self._style(paragraph)
        if style.name.lower() == "title":
            self._collector.add(BlockKind.PARAGRAPH, text, page)
            return text
        level = _paragraph_outline_level(paragraph)
        level = style.outline_level if level is None else level
        if level is not None and level <= _BODY_TEXT_OUTLINE_LEVEL:
            self._collector.heading(level, text, page)
        elif _is_list_paragraph(paragraph, style.name):
            indent = "  " * min(_list_level(paragraph), _MAX_LIST_DEPTH)
            self._collector.add(BlockKind.LIST_ITEM, f"{indent}- {text}", page)
        elif looks_like_question(text) and _is_all_bold(paragraph, style.bold):
            self._collector.term_heading(text, page)
        else:
            self._collector.add(BlockKind.PARAGRAPH, text, page)
        return None

    def _table(self, table: Table) -> None:
        page = self._page
        self._advance_page(len(table._tbl.xpath(_RENDERED_PAGE_BREAK)))
        rows = _table_rows(table, depth=0)
        self._collector.add(BlockKind.TABLE, "\n".join(rows), page)


def _style_facts(style: ParagraphStyle | None) -> _StyleFacts:
    if style is None:
        return _StyleFacts(name="", bold=False, outline_level=None)
    name = style.name or ""
    match = _HEADING_STYLE.match(name)
    level = max(1, int(match.group(1))) if match else None
    # Custom heading styles mark themselves with an outline level, possibly inherited from a base style.
    ancestor: ParagraphStyle | None = style
    for _ in range(_MAX_STYLE_INHERITANCE):
        if level is not None or ancestor is None:
            break
        level = _outline_level(ancestor.element.pPr)
        ancestor = ancestor.base_style
    return _StyleFacts(name=name, bold=bool(style.font.bold), outline_level=level)


def _paragraph_outline_level(paragraph: Paragraph) -> int | None:
    return _outline_level(paragraph._p.pPr)


def _outline_level(properties: CT_PPr | None) -> int | None:
    """1-based heading level from w:outlineLvl (0-based there); body text (9) gives a level past the last heading
    level, so it reads as "not a heading" without falling through to the style's level."""
    if properties is None or properties.outlineLvl is None:
        return None
    return int(properties.outlineLvl.val) + 1


def _is_list_paragraph(paragraph: Paragraph, style_name: str) -> bool:
    properties = paragraph._p.pPr
    return style_name.lower().startswith("list") or (properties is not None and properties.numPr is not None)


def _list_level(paragraph: Paragraph) -> int:
    levels: list[str] = paragraph._p.xpath("./w:pPr/w:numPr/w:ilvl/@w:val")
    return int(levels[0]) if levels and levels[0].isdigit() else 0


def _is_all_bold(paragraph: Paragraph, style_bold: bool) -> bool:
    runs = [run for run in paragraph.runs if run.text.strip()]
    return bool(runs) and all(run.bold or (run.bold is None and style_bold) for run in runs)


def _table_rows(table: Table, depth: int) -> list[str]:
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        previous: _Cell | None = None
        for cell in row.cells:
            # A merged cell is repeated once per grid column it spans; its text belongs in the row once.
            if previous is not None and cell._tc is previous._tc:
                continue
            previous = cell
            cells.append(_cell_text(cell, depth))
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


def _cell_text(cell: _Cell, depth: int) -> str:
    parts: list[str] = []
    for item in cell.iter_inner_content():
        if isinstance(item, Paragraph):
            parts.append(clean_inline(item.text))
        elif depth < _MAX_NESTED_TABLE_DEPTH:
            parts.append("; ".join(_table_rows(item, depth + 1)))
    return clean_inline(" ".join(parts))
