"""Ports for turning uploaded bytes into structured text, and for measuring text in model tokens."""

from typing import Protocol

from domain.knowledge.parsed import DocumentFormat, ParsedDocument


class DocumentParseError(Exception):
    """The upload has a supported type but no usable text: empty, corrupt, encrypted or image-only.

    `reason` is shown to the tenant as the document's failure reason, so it says what is wrong with the
    file in plain words ("PDF is encrypted"), never a stack trace.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DocumentParser(Protocol):
    """Synchronous and CPU-bound: callers run it in a worker thread."""

    def detect_format(
        self, data: bytes, filename: str | None, declared_content_type: str | None
    ) -> DocumentFormat | None:
        """The format the content really has, or None when it is not a supported type (HTTP 415).

        The file name and declared type only break ties the content leaves open (Markdown or plain
        text, an empty file); they never make a binary file acceptable.
        """
        ...

    def parse(self, data: bytes, fmt: DocumentFormat) -> ParsedDocument:
        """Raises DocumentParseError when the document yields no text."""
        ...


class TokenCounter(Protocol):
    def count(self, text: str) -> int:
        """How many tokens `text` costs in the embedding/LLM context the chunks are sized for."""
        ...
