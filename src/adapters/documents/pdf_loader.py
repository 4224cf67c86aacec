"""PDF text per page with pypdf: paragraphs rebuilt from lines, hyphenation undone, running headers dropped.

PDFs carry no reliable heading structure, so blocks have an empty heading path; the page number is the citation.
"""

import io
import logging
import re
from collections import Counter

from pypdf import PasswordType, PdfReader

from adapters.documents.blocks import BlockCollector
from adapters.documents.text_cleanup import clean_lines, hyphenated_compounds, join_wrapped_lines
from application.ports.documents import DocumentParseError
from domain.knowledge.parsed import BlockKind, DocumentFormat, ParsedDocument

logger = logging.getLogger(__name__)

_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl"})
_BULLET = re.compile(r"^(?:[\u2022\u25e6\u25aa\u2023\u25cf\u25cb\u25a0\u25a1\u2013*-]|\d{1,3}[.)])\s+(?=\S)")
_SYMBOL_BULLET = re.compile(r"^[\u2022\u25e6\u25aa\u2023\u25cf\u25cb\u25a0\u25a1\u2013*-]\s+")
_SENTENCE_END = (".", "!", "?", ":", ";", "\u3002")
_DIGITS = re.compile(r"\d+")
# A line at the top or bottom of this share of pages (digits ignored: "Page 3 of 9") is a running header/footer.
_RUNNING_LINE_SHARE = 0.6
_RUNNING_LINE_MIN_PAGES = 3
_EDGE_LINES = 2
_MAX_ERROR_DETAIL = 120


def load_pdf(data: bytes, max_pages: int) -> ParsedDocument:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise DocumentParseError("PDF is encrypted (password-protected)")
        page_count = len(reader.pages)
    except DocumentParseError:
        raise
    except NotImplementedError as error:  # an encryption method pypdf cannot open
        raise DocumentParseError(f"PDF is encrypted with an unsupported method: {_detail(error)}") from error
    except Exception as error:  # pypdf raises many kinds of errors on damaged files
        raise DocumentParseError(f"not a valid PDF file (damaged or truncated): {_detail(error)}") from error
    if page_count == 0:
        raise DocumentParseError("PDF has no pages")
    if page_count > max_pages:
        raise DocumentParseError(f"PDF has {page_count} pages; at most {max_pages} are accepted")

    pages: list[list[str]] = []
    failed_pages = 0
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = page.extract_text()
        except Exception:  # one damaged page should not cost the rest of the document
            logger.warning("text extraction failed on PDF page %d", number, exc_info=True)
            failed_pages += 1
            text = ""
        pages.append(clean_lines(text.translate(_LIGATURES)))
    if not any(any(lines) for lines in pages):
        if failed_pages:
            raise DocumentParseError("not a valid PDF file: no page could be read")
        raise DocumentParseError("PDF contains no extractable text (scanned pages would need OCR)")

    pages = _without_running_lines(pages)
    compounds = hyphenated_compounds("\n".join(line for lines in pages for line in lines))
    collector = BlockCollector()
    for number, lines in enumerate(pages, start=1):
        _collect_page(collector, lines, number, compounds)
    return ParsedDocument(
        format=DocumentFormat.PDF, title=_title(reader), blocks=tuple(collector.blocks), page_count=page_count
    )


def _detail(error: BaseException) -> str:
    message = str(error) or type(error).__name__
    return message[:_MAX_ERROR_DETAIL]


def _title(reader: PdfReader) -> str | None:
    try:
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except Exception:  # broken metadata must not fail an otherwise readable file
        return None
    return (title.strip() or None) if isinstance(title, str) else None


def _edge_indexes(lines: list[str]) -> list[int]:
    """Where running headers and footers can be: the first and last lines, never a page's only content."""
    filled = [index for index, line in enumerate(lines) if line]
    edge = min(_EDGE_LINES, (len(filled) - 1) // 2)
    return filled[:edge] + filled[len(filled) - edge :] if edge > 0 else []


def _without_running_lines(pages: list[list[str]]) -> list[list[str]]:
    if len(pages) < _RUNNING_LINE_MIN_PAGES:
        return pages
    pages_with_line: Counter[str] = Counter()
    for lines in pages:
        pages_with_line.update({_DIGITS.sub("#", lines[index]) for index in _edge_indexes(lines)})
    threshold = max(_RUNNING_LINE_MIN_PAGES, int(len(pages) * _RUNNING_LINE_SHARE))
    running = {line for line, count in pages_with_line.items() if count >= threshold}
    if not running:
        return pages
    cleaned: list[list[str]] = []
    for lines in pages:
        edges = {index for index in _edge_indexes(lines) if _DIGITS.sub("#", lines[index]) in running}
        cleaned.append([line for index, line in enumerate(lines) if index not in edges])
    return cleaned


def _collect_page(collector: BlockCollector, lines: list[str], page: int, compounds: frozenset[str]) -> None:
    """Rebuild paragraphs: a blank line, a bullet, or a short line ending a sentence closes one.

    Lines of running text fill most of the column; the last line of a paragraph and a title usually do not.
    """
    lengths = sorted(len(line) for line in lines if line)
    full_line = lengths[(len(lengths) * 4) // 5] if lengths else 0
    paragraph: list[str] = []
    kind = BlockKind.PARAGRAPH

    def close() -> None:
        nonlocal paragraph, kind
        if paragraph:
            collector.add(kind, join_wrapped_lines(paragraph, compounds), page)
        paragraph = []
        kind = BlockKind.PARAGRAPH

    for line in lines:
        if not line:
            close()
            continue
        if _BULLET.match(line):
            close()
            kind = BlockKind.LIST_ITEM
            line = _SYMBOL_BULLET.sub("- ", line)
        paragraph.append(line)
        short = len(line) < 0.85 * full_line
        if short and (line.endswith(_SENTENCE_END) or len(line) < 0.6 * full_line) and not line.endswith("-"):
            close()
    close()
