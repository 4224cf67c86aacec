"""The DocumentParser port: format from content sniffing, text from the loader of that format."""

from adapters.documents.detection import decode_text, detect_format
from adapters.documents.docx_loader import load_docx
from adapters.documents.html_loader import load_html
from adapters.documents.markdown_loader import load_markdown
from adapters.documents.pdf_loader import load_pdf
from adapters.documents.text_loader import load_text
from application.ports.documents import DocumentParseError
from domain.knowledge.parsed import DocumentFormat, ParsedDocument

# Text extraction runs at tens of milliseconds per page; this keeps one upload from holding a worker for hours.
DEFAULT_MAX_PDF_PAGES = 5000


class ContentSniffingDocumentParser:
    def __init__(self, max_pdf_pages: int = DEFAULT_MAX_PDF_PAGES) -> None:
        self._max_pdf_pages = max_pdf_pages

    def detect_format(
        self, data: bytes, filename: str | None, declared_content_type: str | None
    ) -> DocumentFormat | None:
        return detect_format(data, filename, declared_content_type)

    def parse(self, data: bytes, fmt: DocumentFormat) -> ParsedDocument:
        if not data.strip():
            raise DocumentParseError("the file is empty")
        match fmt:
            case DocumentFormat.PDF:
                parsed = load_pdf(data, self._max_pdf_pages)
            case DocumentFormat.DOCX:
                parsed = load_docx(data)
            case DocumentFormat.TXT | DocumentFormat.MD | DocumentFormat.HTML:
                parsed = self._parse_text(data, fmt)
        if not any(block.text.strip() for block in parsed.blocks):
            raise DocumentParseError("document contains no text")
        return parsed

    def _parse_text(self, data: bytes, fmt: DocumentFormat) -> ParsedDocument:
        text = decode_text(data)
        if text is None:
            raise DocumentParseError("not a text file: the content is not valid UTF-8 or UTF-16 text")
        if fmt is DocumentFormat.HTML:
            return load_html(text)
        if fmt is DocumentFormat.MD:
            return load_markdown(text)
        return load_text(text)
