"""ContentSniffingDocumentParser on real files generated here: PDF (reportlab, pypdf encryption), DOCX
(python-docx), HTML, Markdown and text in several encodings, plus damaged and hostile inputs."""

import codecs
import io
import time
import zipfile

import docx
import pytest
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_BREAK
from docx.oxml.ns import qn
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from adapters.documents.parser import ContentSniffingDocumentParser
from application.ports.documents import DocumentParseError
from domain.knowledge.parsed import BlockKind, DocumentFormat, ParsedDocument, TextBlock

PARSER = ContentSniffingDocumentParser()


def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """One drawn line per string, top to bottom; each list is a page."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    if title:
        pdf.setTitle(title)
    for lines in pages:
        y = 780.0
        for line in lines:
            if line:
                pdf.drawString(72, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def encrypt(pdf: bytes, user_password: str, owner_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password, owner_password=owner_password, algorithm="AES-256")
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


REPORT_PAGES = [
    [
        "Annual Report",
        "",
        "Our company expanded its inter-",
        "national sales to eleven markets and",
        "opened a well-known flagship store in",
        "the well-",
        "known harbour district last spring.",
    ],
    ["Outlook", "", "Next year we plan to enter three more", "markets in South America."],
]


def parse(data: bytes, filename: str | None = None, content_type: str | None = None) -> ParsedDocument:
    fmt = PARSER.detect_format(data, filename, content_type)
    assert fmt is not None
    return PARSER.parse(data, fmt)


def texts(parsed: ParsedDocument) -> list[str]:
    return [block.text for block in parsed.blocks]


def parse_failure(data: bytes, filename: str | None = None) -> str:
    fmt = PARSER.detect_format(data, filename, None)
    assert fmt is not None
    with pytest.raises(DocumentParseError) as raised:
        PARSER.parse(data, fmt)
    return raised.value.reason


class TestPdf:
    def test_pages_are_numbered_and_line_end_hyphenation_is_undone(self) -> None:
        # A misleading name does not matter: the content is a PDF.
        parsed = parse(make_pdf(REPORT_PAGES, title="Report 2025"), filename="report.txt")

        assert parsed.format is DocumentFormat.PDF
        assert (parsed.title, parsed.page_count) == ("Report 2025", 2)
        assert parsed.blocks == (
            TextBlock("Annual Report", 1, (), BlockKind.PARAGRAPH),
            TextBlock(
                "Our company expanded its international sales to eleven markets and opened a well-known "
                "flagship store in the well-known harbour district last spring.",
                1,
                (),
                BlockKind.PARAGRAPH,
            ),
            TextBlock("Outlook", 2, (), BlockKind.PARAGRAPH),
            TextBlock("Next year we plan to enter three more markets in South America.", 2, (), BlockKind.PARAGRAPH),
        )

    def test_running_headers_and_page_footers_are_dropped(self) -> None:
        pages = [
            ["ACME Handbook", "", f"Chapter {number} explains one rule of the house.", "", f"Page {number} of 4"]
            for number in range(1, 5)
        ]
        parsed = parse(make_pdf(pages))
        assert texts(parsed) == [f"Chapter {number} explains one rule of the house." for number in range(1, 5)]
        assert [block.page for block in parsed.blocks] == [1, 2, 3, 4]

    def test_encrypted_pdf_fails_with_a_clear_reason(self) -> None:
        locked = encrypt(make_pdf(REPORT_PAGES), user_password="secret", owner_password="owner")
        assert parse_failure(locked) == "PDF is encrypted (password-protected)"

    def test_pdf_restricted_only_by_an_owner_password_opens(self) -> None:
        restricted = encrypt(make_pdf(REPORT_PAGES), user_password="", owner_password="owner")
        assert "Annual Report" in texts(parse(restricted))

    def test_truncated_pdf_is_detected_as_pdf_and_fails_as_damaged(self) -> None:
        pdf = make_pdf(REPORT_PAGES)
        reason = parse_failure(pdf[: len(pdf) // 2])
        assert reason.startswith("not a valid PDF file")

    def test_pdf_without_text_asks_for_ocr(self) -> None:
        buffer = io.BytesIO()
        pdf = canvas.Canvas(buffer, pagesize=A4)
        pdf.rect(100, 100, 200, 200, fill=1)  # a picture, no text
        pdf.showPage()
        pdf.save()
        assert "no extractable text" in parse_failure(buffer.getvalue())

    def test_page_limit_is_enforced(self) -> None:
        parser = ContentSniffingDocumentParser(max_pdf_pages=1)
        with pytest.raises(DocumentParseError, match="2 pages"):
            parser.parse(make_pdf(REPORT_PAGES), DocumentFormat.PDF)


def make_docx() -> bytes:
    document = docx.Document()
    document.add_paragraph("Employee Handbook", style="Title")
    document.add_heading("Leave", level=1)
    document.add_paragraph("Everyone gets 25 days of paid leave.")
    document.add_heading("How to apply", level=2)
    document.add_paragraph("Fill in the form", style="List Bullet")
    document.add_paragraph("Ask your manager", style="List Number")
    table = document.add_table(rows=3, cols=2)
    contracts = [("Contract", "Days"), ("Full time", "25"), ("Part time", "")]
    for row, (plan, days) in zip(table.rows, contracts, strict=True):
        row.cells[0].text, row.cells[1].text = plan, days
    merged = table.cell(2, 0).merge(table.cell(2, 1))
    merged.text = "Part time: pro rata"
    question = document.add_paragraph()
    question.add_run("Can I carry leave over?").bold = True
    document.add_paragraph("Up to five days, until March.")
    document.add_heading("Expenses", level=1)
    document.add_paragraph("Keep every receipt.")
    output = io.BytesIO()
    document.save(output)
    return output.getvalue()


class TestDocx:
    def test_headings_lists_tables_and_bold_questions_in_body_order(self) -> None:
        parsed = parse(make_docx())
        leave, apply = ("Leave",), ("Leave", "How to apply")
        question = (*apply, "Can I carry leave over?")
        assert parsed.format is DocumentFormat.DOCX
        assert parsed.title == "Employee Handbook"
        assert [(block.kind, block.heading_path, block.text) for block in parsed.blocks] == [
            (BlockKind.PARAGRAPH, (), "Employee Handbook"),
            (BlockKind.HEADING, leave, "Leave"),
            (BlockKind.PARAGRAPH, leave, "Everyone gets 25 days of paid leave."),
            (BlockKind.HEADING, apply, "How to apply"),
            (BlockKind.LIST_ITEM, apply, "- Fill in the form"),
            (BlockKind.LIST_ITEM, apply, "- Ask your manager"),
            (BlockKind.TABLE, apply, "Contract | Days\nFull time | 25\nPart time: pro rata"),
            (BlockKind.HEADING, question, "Can I carry leave over?"),
            (BlockKind.PARAGRAPH, question, "Up to five days, until March."),
            (BlockKind.HEADING, ("Expenses",), "Expenses"),
            (BlockKind.PARAGRAPH, ("Expenses",), "Keep every receipt."),
        ]
        assert parsed.page_count is None  # python-docx records no rendered page breaks

    def test_custom_style_with_an_outline_level_is_a_heading(self) -> None:
        document = docx.Document()
        chapter = document.styles.add_style("Chapter", WD_STYLE_TYPE.PARAGRAPH)
        outline = chapter.element.get_or_add_pPr().makeelement(qn("w:outlineLvl"), {qn("w:val"): "0"})
        chapter.element.get_or_add_pPr().append(outline)
        document.add_paragraph("Safety", style="Chapter")
        document.add_paragraph("Wear a helmet.")
        output = io.BytesIO()
        document.save(output)
        assert [(block.kind, block.heading_path) for block in parse(output.getvalue()).blocks] == [
            (BlockKind.HEADING, ("Safety",)),
            (BlockKind.PARAGRAPH, ("Safety",)),
        ]

    def test_word_rendered_page_breaks_give_page_numbers(self) -> None:
        document = docx.Document()
        document.add_paragraph("First page text.")
        document.add_paragraph("Second page text.")
        # Word writes <w:lastRenderedPageBreak/> where its layout started a new page.
        run = document.paragraphs[1].runs[0]
        run._r.insert(0, run._r.makeelement(qn("w:lastRenderedPageBreak"), {}))
        output = io.BytesIO()
        document.save(output)
        parsed = parse(output.getvalue())
        assert [(block.text, block.page) for block in parsed.blocks] == [
            ("First page text.", 1),
            ("Second page text.", 2),
        ]
        assert parsed.page_count == 2

    def test_explicit_page_breaks_alone_do_not_invent_page_numbers(self) -> None:
        document = docx.Document()
        document.add_paragraph("Before.").add_run().add_break(WD_BREAK.PAGE)
        document.add_paragraph("After.")
        output = io.BytesIO()
        document.save(output)
        assert [block.page for block in parse(output.getvalue()).blocks] == [None, None]

    def test_truncated_docx_is_still_a_docx_and_fails_as_damaged(self) -> None:
        data = make_docx()
        assert parse_failure(data[: len(data) // 2]) == "not a valid DOCX (zip) file: damaged or truncated"

    def test_zip_that_is_not_a_docx_is_unsupported(self) -> None:
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("notes.txt", "hello")
        assert PARSER.detect_format(archive.getvalue(), "notes.docx", None) is None

    def test_password_protected_docx_fails_as_encrypted(self) -> None:
        # Office stores a protected DOCX as an OLE2 compound file with an "EncryptedPackage" stream.
        ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + "EncryptedPackage".encode("utf-16-le")
        assert PARSER.detect_format(ole, "salaries.docx", None) is DocumentFormat.DOCX
        assert parse_failure(ole, "salaries.docx") == "DOCX is encrypted (password-protected)"
        assert PARSER.detect_format(ole, None, None) is None  # legacy .doc and friends stay unsupported


HTML_PAGE = """<!DOCTYPE html>
<html><head><title>Shop help</title><style>body { color: red }</style>
<script>var menu = "<p>not text</p>";</script></head>
<body><nav><a href="/">Home</a> | <a href="/faq">FAQ</a></nav>
<!-- tracking: remove -->
<h1>Delivery</h1>
<p>We ship <b>worldwide</b> &amp; fast.</p>
<h2>Costs</h2>
<ul><li>EU: free</li><li>Rest of world: 9&nbsp;EUR<ol><li>Express</li></ol></li></ul>
<table><tr><th>Zone</th><th>Days</th></tr><tr><td>EU</td><td>2</td></tr></table>
<h2>Questions</h2>
<dl><dt>Can I track my parcel?</dt><dd>Yes, by e-mail link.</dd></dl>
<p>Anything else: write to us.</p>
<pre>curl https://shop.example/track
  --id 42</pre>
<footer>Copyright Shop</footer></body></html>"""


class TestHtml:
    def test_structure_survives_and_page_chrome_is_dropped(self) -> None:
        parsed = parse(HTML_PAGE.encode())
        delivery, costs, questions = ("Delivery",), ("Delivery", "Costs"), ("Delivery", "Questions")
        track = (*questions, "Can I track my parcel?")
        assert parsed.format is DocumentFormat.HTML
        assert parsed.title == "Shop help"
        assert [(block.kind, block.heading_path, block.text) for block in parsed.blocks] == [
            (BlockKind.HEADING, delivery, "Delivery"),
            (BlockKind.PARAGRAPH, delivery, "We ship worldwide & fast."),
            (BlockKind.HEADING, costs, "Costs"),
            (BlockKind.LIST_ITEM, costs, "- EU: free"),
            (BlockKind.LIST_ITEM, costs, "- Rest of world: 9 EUR"),
            (BlockKind.LIST_ITEM, costs, "  1. Express"),
            (BlockKind.TABLE, costs, "Zone | Days\nEU | 2"),
            (BlockKind.HEADING, questions, "Questions"),
            (BlockKind.HEADING, track, "Can I track my parcel?"),
            (BlockKind.PARAGRAPH, track, "Yes, by e-mail link."),
            (BlockKind.PARAGRAPH, questions, "Anything else: write to us."),
            (BlockKind.CODE, questions, "curl https://shop.example/track\n  --id 42"),
        ]

    def test_fragment_without_doctype_is_html(self) -> None:
        assert PARSER.detect_format(b"<p>Opening hours</p><p>Mon-Fri</p>", None, None) is DocumentFormat.HTML

    def test_page_in_a_declared_legacy_charset_is_read(self) -> None:
        page = '<html><head><meta charset="windows-1252"></head><body><p>Caf\xe9 cr\xe8me</p></body></html>'
        data = page.encode("cp1252")
        assert texts(parse(data)) == ["Café crème"]

    def test_other_xml_is_unsupported(self) -> None:
        svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><text>Hi</text></svg>'
        assert PARSER.detect_format(svg, "logo.html", None) is None


MARKDOWN = """---
title: Setup guide
---
# Install

Run the installer. It takes
about two minutes.

## Requirements

* Python 3.11
* 2 GB of memory

| Item | Value |
|------|------:|
| CPU  | 2     |

```bash
uv sync
```

Settings
========

See [the docs](https://example.com/docs) for **all** options.
"""


class TestMarkdownAndText:
    def test_markdown_structure_is_kept(self) -> None:
        parsed = parse(MARKDOWN.encode(), filename="guide.txt")  # content wins over the name
        install, requirements = ("Install",), ("Install", "Requirements")
        assert parsed.format is DocumentFormat.MD
        assert parsed.title == "Setup guide"
        assert [(block.kind, block.heading_path, block.text) for block in parsed.blocks] == [
            (BlockKind.HEADING, install, "Install"),
            (BlockKind.PARAGRAPH, install, "Run the installer. It takes about two minutes."),
            (BlockKind.HEADING, requirements, "Requirements"),
            (BlockKind.LIST_ITEM, requirements, "- Python 3.11"),
            (BlockKind.LIST_ITEM, requirements, "- 2 GB of memory"),
            (BlockKind.TABLE, requirements, "Item | Value\nCPU | 2"),
            (BlockKind.CODE, requirements, "uv sync"),
            (BlockKind.HEADING, ("Settings",), "Settings"),
            (BlockKind.PARAGRAPH, ("Settings",), "See the docs (https://example.com/docs) for all options."),
        ]

    def test_plain_prose_is_text_and_markdown_only_when_named_so(self) -> None:
        prose = b"Opening hours are nine to five.\nWe are closed on Sundays.\n"
        assert PARSER.detect_format(prose, None, None) is DocumentFormat.TXT
        assert PARSER.detect_format(prose, None, "text/markdown; charset=utf-8") is DocumentFormat.MD

    def test_bullets_in_a_text_file_do_not_make_it_markdown(self) -> None:
        bullets = b"Bring:\n- a towel\n- a pen\n"
        assert PARSER.detect_format(bullets, "list.txt", None) is DocumentFormat.TXT
        assert PARSER.detect_format(bullets, None, None) is DocumentFormat.MD

    def test_text_paragraphs_lists_and_q_a_lines(self) -> None:
        text = (
            "Store policy for the win-\nter season.\n\n"
            "Q: Can I return sale items?\nA: Within 14 days.\n\n"
            "- gift cards\n- vouchers\n"
        )
        parsed = parse(text.encode(), filename="policy.txt")
        assert parsed.format is DocumentFormat.TXT
        assert [(block.kind, block.text) for block in parsed.blocks] == [
            (BlockKind.PARAGRAPH, "Store policy for the winter season."),
            (BlockKind.PARAGRAPH, "Q: Can I return sale items?"),
            (BlockKind.PARAGRAPH, "A: Within 14 days."),
            (BlockKind.LIST_ITEM, "- gift cards"),
            (BlockKind.LIST_ITEM, "- vouchers"),
        ]

    @pytest.mark.parametrize(
        "data",
        [
            codecs.BOM_UTF8 + "Grüße aus Köln.".encode(),
            "Grüße aus Köln.".encode("utf-16"),  # with its byte-order mark
        ],
    )
    def test_byte_order_marks_are_decoded_and_dropped(self, data: bytes) -> None:
        parsed = parse(data)
        assert parsed.format is DocumentFormat.TXT
        assert texts(parsed) == ["Grüße aus Köln."]

    def test_right_to_left_text_and_emoji_sequences_survive_unchanged(self) -> None:
        line = "שלום עולם 👋🏽 مرحبا بالعالم 👨‍👩‍👧 ‏سلام‎"
        assert texts(parse(line.encode())) == [line]


class TestRejectedAndEmptyInputs:
    @pytest.mark.parametrize("data", [b"", b"  \n\t "])
    def test_empty_file_is_accepted_then_fails_as_empty(self, data: bytes) -> None:
        assert PARSER.detect_format(data, "empty.pdf", None) is DocumentFormat.PDF
        assert parse_failure(data) == "the file is empty"

    def test_markup_without_text_fails_as_empty_document(self) -> None:
        assert parse_failure(b"<html><body><script>x()</script></body></html>") == "document contains no text"

    @pytest.mark.parametrize(
        "data",
        [
            b"\x89PNG\r\n\x1a\n" + bytes(64),
            b"\xff\xd8\xff\xe0" + bytes(64),
            b"GIF89a" + b"\x01" * 40,
            b"plain start\x00\x01\x02 binary tail",
            "Caf\xe9 au lait".encode("latin-1"),  # not UTF-8 and no declared charset
            b"{\\rtf1\\ansi Hello}",
        ],
    )
    def test_binary_and_unsupported_content_is_refused_whatever_its_name(self, data: bytes) -> None:
        assert PARSER.detect_format(data, "document.pdf", "application/pdf") is None


class TestHostileInputs:
    """Inputs that make naive parsers quadratic; each must finish quickly."""

    @pytest.mark.parametrize(
        ("data", "filename"),
        [
            (b"<!--" * 40_000, "comments.html"),  # 10+ s in a bare html.parser on Python 3.11
            (b"<p>" + b"</" * 100_000, "endtags.html"),
            (b"<div>" * 50_000 + b"deep" + b"</div>" * 50_000, "nested.html"),
            (b"# Title\n\n" + b"> " * 50_000 + b"quoted", "quotes.md"),
            (b"# Title\n\n" + b"**" * 200_000, "stars.md"),
            (b"word-" * 400_000, "hyphens.txt"),
            (b"x" * 3_000_000, "one-line.txt"),
        ],
    )
    def test_parses_in_bounded_time(self, data: bytes, filename: str) -> None:
        started = time.perf_counter()
        parse(data, filename)
        assert time.perf_counter() - started < 3.0
