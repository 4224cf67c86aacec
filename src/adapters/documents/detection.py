"""Which supported format a byte string really is, judged from its content (magic bytes and structure).

The file name and declared content type only settle what the bytes leave open: Markdown or plain text, an HTML
fragment, an empty or damaged upload of a named type. They never make an unsupported file acceptable.
"""

import codecs
import io
import re
import zipfile
from pathlib import PurePath

from domain.knowledge.parsed import DocumentFormat

_PDF_MAGIC = b"%PDF-"
_PDF_HEADER_WINDOW = 1024  # readers accept junk before the header within the first KiB
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_DOCX_MAIN_PART = "word/document.xml"
# Password-protected Office files are OLE2 compound files holding an "EncryptedPackage" stream.
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
# Formats whose first bytes could pass for text but which we do not read.
_UNSUPPORTED_SIGNATURES = (
    b"\x89PNG",
    b"\xff\xd8\xff",  # JPEG
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",  # TIFF
    b"MM\x00*",
    b"RIFF",  # WebP, WAV, AVI
    b"\x1f\x8b",  # gzip
    b"7z\xbc\xaf",
    b"Rar!",
    b"\x7fELF",
    b"%!PS",
    b"{\\rtf",
)
_UTF32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_CONTROL_CHARS = re.compile(r"[\x01-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_SNIFF_CHARS = 65536

_EXTENSION_FORMATS = {
    ".pdf": DocumentFormat.PDF,
    ".docx": DocumentFormat.DOCX,
    ".txt": DocumentFormat.TXT,
    ".text": DocumentFormat.TXT,
    ".md": DocumentFormat.MD,
    ".markdown": DocumentFormat.MD,
    ".html": DocumentFormat.HTML,
    ".htm": DocumentFormat.HTML,
    ".xhtml": DocumentFormat.HTML,
}
_CONTENT_TYPE_FORMATS = {
    "application/pdf": DocumentFormat.PDF,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": DocumentFormat.DOCX,
    "text/plain": DocumentFormat.TXT,
    "text/markdown": DocumentFormat.MD,
    "text/x-markdown": DocumentFormat.MD,
    "text/html": DocumentFormat.HTML,
    "application/xhtml+xml": DocumentFormat.HTML,
}

_HTML_DOCUMENT_TAG = re.compile(r"<(?:head|body|title|meta)\b")
_HTML_BLOCK_TAG = re.compile(r"<(?:p|div|h[1-6]|table|ul|ol|section|article|main|span|a|br)\b")
_HTML_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)
_MARKDOWN_STRUCTURE = (
    re.compile(r"^ {0,3}#{1,6}[ \t]+\S", re.MULTILINE),  # ATX heading
    re.compile(r"^ {0,3}(?:```|~~~)", re.MULTILINE),  # code fence
    re.compile(r"^[^\n]+\n {0,3}(?:={3,}|-{3,})[ \t]*$", re.MULTILINE),  # setext heading
    re.compile(r"^ {0,3}\|[^\n]*\|[ \t]*\n {0,3}\|?[ \t]*:?-{3,}", re.MULTILINE),  # table
    re.compile(r"\[[^\]\n]{1,200}\]\((?:https?://|/|#)[^)\s]{0,500}\)"),  # link
)
_MARKDOWN_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+\S", re.MULTILINE)


def format_hint(filename: str | None, declared_content_type: str | None) -> DocumentFormat | None:
    """What the name or declared type claims; the extension wins (browsers send text/plain for .md)."""
    if filename:
        claimed = _EXTENSION_FORMATS.get(PurePath(filename).suffix.lower())
        if claimed is not None:
            return claimed
    if declared_content_type:
        return _CONTENT_TYPE_FORMATS.get(declared_content_type.split(";")[0].strip().lower())
    return None


def detect_format(data: bytes, filename: str | None, declared_content_type: str | None) -> DocumentFormat | None:
    hint = format_hint(filename, declared_content_type)
    if not data.strip():
        # Nothing to judge: accept it as what it claims to be, and let parsing fail it as empty.
        return hint or DocumentFormat.TXT
    if _is_pdf(data):
        return DocumentFormat.PDF
    if data.startswith(_ZIP_MAGICS):
        return _zip_format(data, hint)
    if data.startswith(_OLE2_MAGIC):
        # An encrypted DOCX (parsing fails it with a clear reason); legacy .doc and others are unsupported.
        return DocumentFormat.DOCX if hint is DocumentFormat.DOCX and _ENCRYPTED_PACKAGE in data else None
    if data.startswith(_UNSUPPORTED_SIGNATURES):
        return None
    text = decode_text(data)
    if text is None:
        return None
    return _text_format(text, hint)


def _is_pdf(data: bytes) -> bool:
    if data.lstrip().startswith(_PDF_MAGIC):
        return True
    # Junk before the header is tolerated when the file also ends like a PDF.
    return _PDF_MAGIC in data[:_PDF_HEADER_WINDOW] and b"%%EOF" in data[-2048:]


def _zip_format(data: bytes, hint: DocumentFormat | None) -> DocumentFormat | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        # A damaged DOCX still shows its part names in the local headers: fail it as a DOCX, with a reason.
        damaged_docx = hint is DocumentFormat.DOCX or _DOCX_MAIN_PART.encode() in data
        return DocumentFormat.DOCX if damaged_docx else None
    return DocumentFormat.DOCX if _DOCX_MAIN_PART in names else None


def decode_text(data: bytes) -> str | None:
    """The text of `data` if it is UTF-8 (BOM or not), UTF-16/32 with a BOM, or HTML declaring its charset;
    None for anything binary."""
    text: str | None
    if data.startswith(codecs.BOM_UTF8):
        text = _strict_decode(data[len(codecs.BOM_UTF8) :], "utf-8")
    elif data.startswith(_UTF32_BOMS):
        text = _strict_decode(data, "utf-32")
    elif data.startswith(_UTF16_BOMS):
        text = _strict_decode(data, "utf-16")
    elif b"\x00" in data:
        return None
    else:
        text = _strict_decode(data, "utf-8")
        if text is None:
            text = _decode_with_declared_charset(data)
    if text is None or _looks_binary(text):
        return None
    return text


def _strict_decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _decode_with_declared_charset(data: bytes) -> str | None:
    """Saved web pages are often windows-1252 or Shift_JIS and say so in a <meta> tag."""
    head = data[:4096]
    if head.lstrip()[:1] != b"<":
        return None
    declared = _HTML_CHARSET.search(head)
    if declared is None:
        return None
    try:
        encoding = codecs.lookup(declared.group(1).decode("ascii")).name
        return data.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        return None


def _looks_binary(text: str) -> bool:
    sample = text[:_SNIFF_CHARS]
    return len(_CONTROL_CHARS.findall(sample)) > max(8, len(sample) // 200)


def _text_format(text: str, hint: DocumentFormat | None) -> DocumentFormat | None:
    head = _skip_leading_comments(text.lstrip())[:4096].lower()
    if head.startswith(("<!doctype html", "<html")):
        return DocumentFormat.HTML
    if head.startswith(("<?xml", "<!doctype")):
        # XHTML declares itself as XML; any other XML (SVG, feeds, office XML) is not a document we read.
        return DocumentFormat.HTML if "<html" in head else None
    if head.startswith("<svg"):
        return None
    sample = text[:_SNIFF_CHARS]
    if head.startswith("<"):
        if _HTML_DOCUMENT_TAG.search(head) or hint is DocumentFormat.HTML:
            return DocumentFormat.HTML
        if _HTML_BLOCK_TAG.search(head[:1024]) and not _has_markdown_structure(sample):
            return DocumentFormat.HTML
    if hint is DocumentFormat.HTML and _HTML_BLOCK_TAG.search(head):
        return DocumentFormat.HTML
    # Bullet lines are common in plain text too: for a file named as text they are no evidence of Markdown.
    if hint is DocumentFormat.MD or _has_markdown_structure(sample, lists_count=hint is not DocumentFormat.TXT):
        return DocumentFormat.MD
    return DocumentFormat.TXT


def _skip_leading_comments(text: str) -> str:
    while text.startswith("<!--"):
        end = text.find("-->")
        if end < 0:
            return ""
        text = text[end + 3 :].lstrip()
    return text


def _has_markdown_structure(sample: str, *, lists_count: bool = True) -> bool:
    if any(pattern.search(sample) for pattern in _MARKDOWN_STRUCTURE):
        return True
    if not lists_count:
        return False
    list_items = _MARKDOWN_LIST_ITEM.finditer(sample)
    return next(list_items, None) is not None and next(list_items, None) is not None
