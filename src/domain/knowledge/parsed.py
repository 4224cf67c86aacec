"""What a parsed upload looks like, and how it is cut into chunks for retrieval.

A parser turns bytes into a `ParsedDocument`: an ordered list of `TextBlock`s that keep the structure a
citation needs (page, heading path) and the kind of text (a table row is not chunked like prose).
A chunker turns that into `ChunkDraft`s; the ingestion use case embeds and stores them as `Chunk`s.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import attrs

from domain.common.errors import DomainError


class DocumentFormat(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    TXT = "txt"
    MD = "md"
    HTML = "html"


class BlockKind(StrEnum):
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    LIST_ITEM = "list_item"
    TABLE = "table"
    CODE = "code"


def _positive_page(_instance: Any, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{attribute.name} is 1-based, got {value}")


@attrs.frozen
class TextBlock:
    """One structural unit of a document, in reading order.

    `heading_path` lists the headings the block sits under, outermost first. A heading block's own
    path ends with its own text: it is the path of the section it opens.
    A table block holds one row per line, cells joined by " | "; a list item keeps its marker ("- ", "3. ").
    """

    text: str
    page: int | None = attrs.field(validator=_positive_page)
    heading_path: tuple[str, ...]
    kind: BlockKind


@attrs.frozen
class ParsedDocument:
    format: DocumentFormat
    title: str | None
    blocks: tuple[TextBlock, ...]
    page_count: int | None


@attrs.frozen
class ChunkDraft:
    """A chunk before it has an id and an embedding. `page` is where the chunk starts; `heading_path` is the
    deepest path shared by everything in it, so a citation never names a section the chunk is not in."""

    text: str
    ordinal: int
    page: int | None = attrs.field(validator=_positive_page)
    heading_path: tuple[str, ...]
    token_count: int


class ChunkingStrategy(StrEnum):
    FIXED = "fixed"
    RECURSIVE = "recursive"
    SEMANTIC = "semantic"
    QA = "qa"


class InvalidChunkingSettings(DomainError, ValueError):
    code = "invalid_chunking_settings"


# Chunk sizes are bounded by the largest input window of common embedding models (8191 tokens).
MAX_CHUNK_TOKENS = 8192


def _check_chunk_tokens(_instance: ChunkingSettings, _attribute: Any, value: int) -> None:
    if not 0 < value <= MAX_CHUNK_TOKENS:
        raise InvalidChunkingSettings(f"chunk_tokens must be between 1 and {MAX_CHUNK_TOKENS}, got {value}")


def _check_overlap_tokens(instance: ChunkingSettings, _attribute: Any, value: int) -> None:
    # Overlap above half the chunk would make each chunk step forward less than it repeats: a document
    # would turn into many times its own size in chunks.
    if not 0 <= value <= instance.chunk_tokens // 2:
        raise InvalidChunkingSettings(
            f"overlap_tokens must be between 0 and half of chunk_tokens ({instance.chunk_tokens // 2}), got {value}"
        )


def _check_semantic_threshold(_instance: ChunkingSettings, _attribute: Any, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise InvalidChunkingSettings(f"semantic_threshold must be strictly between 0 and 1, got {value}")


def _check_strategy(_instance: ChunkingSettings, _attribute: Any, value: object) -> None:
    if not isinstance(value, ChunkingStrategy):
        raise InvalidChunkingSettings(f"unknown chunking strategy {value!r}")


@attrs.frozen
class ChunkingSettings:
    """How a tenant (or one document) wants its text cut.

    `semantic_threshold` is a share of sentence boundaries, not a cosine value: the least similar
    `semantic_threshold` fraction of adjacent-sentence boundaries in a document become topic breaks.
    Being relative to the document, it means the same thing whichever embedding model is configured
    (similarity scales differ a lot between models).
    """

    strategy: ChunkingStrategy = attrs.field(default=ChunkingStrategy.RECURSIVE, validator=_check_strategy)
    chunk_tokens: int = attrs.field(default=300, validator=_check_chunk_tokens)
    overlap_tokens: int = attrs.field(default=40, validator=_check_overlap_tokens)
    semantic_threshold: float = attrs.field(default=0.1, validator=_check_semantic_threshold)
