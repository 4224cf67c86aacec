"""Parsing and chunking throughput of the ingestion path, on documents built from the stackfaq corpus.

A 50-page PDF (reportlab), and the whole corpus as one DOCX, Markdown and HTML file (one heading per question,
its answers below). PDF speed is in real pages; the others in page equivalents of 3,000 characters of text.
The semantic chunker is timed with a hashed bag-of-words embedder: its own overhead, not a model's.

Run: uv run python bench/ingest_parse.py
"""

import asyncio
import functools
import hashlib
import html
import io
import json
import math
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar
from xml.sax.saxutils import escape

import docx
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import Flowable, PageBreak, Paragraph, SimpleDocTemplate

from adapters.documents.parser import ContentSniffingDocumentParser
from application.knowledge.chunking import chunk_document
from domain.knowledge.parsed import ChunkingSettings, ChunkingStrategy, ParsedDocument

CORPUS = Path("/work/shared/datasets/stackfaq/corpus.jsonl")
PDF_PAGES = 50
CHARS_PER_PAGE = 3000
HASH_DIMENSIONS = 256


def threads() -> list[tuple[str, list[str]]]:
    """(question title, answers) in corpus order."""
    grouped: dict[str, tuple[str, list[str]]] = {}
    with CORPUS.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            grouped.setdefault(record["thread"], (record["title"], []))[1].append(" ".join(record["text"].split()))
    return list(grouped.values())


def make_pdf(corpus: list[tuple[str, list[str]]]) -> bytes:
    """One question and about 3,000 characters of answers per page."""
    styles = getSampleStyleSheet()
    answers = [answer for _, thread_answers in corpus for answer in thread_answers if len(answer) > 200]
    story: list[Flowable] = []
    for page in range(PDF_PAGES):
        story.append(Paragraph(escape(corpus[page][0]), styles["Heading2"]))
        story.extend(
            Paragraph(escape(answers[(page * 5 + index) % len(answers)][:600]), styles["BodyText"])
            for index in range(5)
        )
        story.append(PageBreak())
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4).build(story)
    return buffer.getvalue()


def make_docx(corpus: list[tuple[str, list[str]]]) -> bytes:
    document = docx.Document()
    for title, answers in corpus:
        document.add_heading(title, level=2)
        for answer in answers:
            document.add_paragraph(answer)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_markdown(corpus: list[tuple[str, list[str]]]) -> bytes:
    sections = [f"## {title}\n\n" + "\n\n".join(answers) for title, answers in corpus]
    return ("# Stack FAQ\n\n" + "\n\n".join(sections)).encode()


def make_html(corpus: list[tuple[str, list[str]]]) -> bytes:
    sections = [
        f"<h2>{html.escape(title)}</h2>" + "".join(f"<p>{html.escape(answer)}</p>" for answer in answers)
        for title, answers in corpus
    ]
    page = "<!doctype html><html><head><title>Stack FAQ</title></head><body><h1>Stack FAQ</h1>{}</body></html>"
    return page.format("".join(sections)).encode()


async def hashed_embed(texts: Sequence[str]) -> list[list[float]]:
    vectors: list[list[float]] = []
    for text in texts:
        vector = [0.0] * HASH_DIMENSIONS
        for word in re.findall(r"\w+", text.lower()):
            vector[int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big") % HASH_DIMENSIONS] += 1
        norm = math.sqrt(sum(value * value for value in vector)) or 1.0
        vectors.append([value / norm for value in vector])
    return vectors


T = TypeVar("T")


def timed(action: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def report(name: str, data: bytes) -> None:
    parser = ContentSniffingDocumentParser()
    fmt, detect_seconds = timed(lambda: parser.detect_format(data, None, None))
    assert fmt is not None, f"{name} was not recognised"
    parsed: ParsedDocument
    parsed, parse_seconds = timed(lambda: parser.parse(data, fmt))
    if parsed.page_count is not None:
        pages, unit = float(parsed.page_count), "pages"
    else:
        pages, unit = sum(len(block.text) for block in parsed.blocks) / CHARS_PER_PAGE, "page-eq"
    print(
        f"{name}: {len(data) / 1e6:.2f} MB, {pages:.0f} {unit}, {len(parsed.blocks)} blocks; "
        f"detect {detect_seconds * 1000:.1f} ms, parse {parse_seconds:.2f} s = {pages / parse_seconds:.0f} {unit}/s"
    )
    for strategy in ChunkingStrategy:
        embed = hashed_embed if strategy is ChunkingStrategy.SEMANTIC else None
        run = chunk_document(parsed, ChunkingSettings(strategy=strategy), embed)
        chunks, chunk_seconds = timed(functools.partial(asyncio.run, run))
        total = parse_seconds + chunk_seconds
        mean_tokens = sum(chunk.token_count for chunk in chunks) / max(1, len(chunks))
        print(
            f"  {strategy.value:9} {len(chunks):5} chunks (mean {mean_tokens:3.0f} tokens) in {chunk_seconds:.2f} s; "
            f"parse+chunk {pages / total:6.0f} {unit}/s"
        )


def main() -> None:
    corpus = threads()
    pdf, build_seconds = timed(lambda: make_pdf(corpus))
    print(f"built a {PDF_PAGES}-page PDF in {build_seconds:.1f} s")
    report("PDF", pdf)
    report("DOCX", make_docx(corpus))
    report("Markdown", make_markdown(corpus))
    report("HTML", make_html(corpus))


if __name__ == "__main__":
    main()
