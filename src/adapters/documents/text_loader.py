"""Plain text: paragraphs separated by blank lines, hard-wrapped lines re-joined (hyphenation undone),
bulleted and numbered lines kept as list items, "Q:"/"A:" lines kept apart for FAQ chunking."""

import re

from adapters.documents.blocks import BlockCollector
from adapters.documents.text_cleanup import clean_lines, hyphenated_compounds, join_wrapped_lines
from domain.knowledge.parsed import BlockKind, DocumentFormat, ParsedDocument

_LIST_ITEM = re.compile(r"^(?:[-*\u2022\u25e6\u25aa\u2013]|\d{1,3}[.)])\s+(?=\S)")
_SYMBOL_BULLET = re.compile(r"^[*\u2022\u25e6\u25aa\u2013]\s+")
_QA_LINE = re.compile(r"^(?:Q|A|[Qq]uestion|[Aa]nswer|QUESTION|ANSWER) ?+\d{0,4}+ ?+(?::|[.)]\s)")


def load_text(text: str) -> ParsedDocument:
    compounds = hyphenated_compounds(text)
    collector = BlockCollector()
    block: list[str] = []
    kind = BlockKind.PARAGRAPH

    def close() -> None:
        nonlocal block, kind
        if block:
            collector.add(kind, join_wrapped_lines(block, compounds))
        block = []
        kind = BlockKind.PARAGRAPH

    for line in clean_lines(text):
        if not line:
            close()
            continue
        if _LIST_ITEM.match(line):
            close()
            kind = BlockKind.LIST_ITEM
            line = _SYMBOL_BULLET.sub("- ", line)
        elif _QA_LINE.match(line):
            close()
        block.append(line)
    close()
    return ParsedDocument(format=DocumentFormat.TXT, title=None, blocks=tuple(collector.blocks), page_count=None)
