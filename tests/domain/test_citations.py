"""Citation markers in an answer become numbered sources, per document, in order of first citation."""

from __future__ import annotations

from domain.conversations.citations import Source, resolve_citations, with_footnotes

SOURCES = [
    Source(number=1, document_id="doc-refunds", title="Refund policy", text="..."),
    Source(number=2, document_id="doc-shipping", title="Shipping", text="..."),
    Source(number=3, document_id="doc-refunds", title="Refund policy", text="..."),
]


def test_markers_are_renumbered_by_first_citation_and_merged_per_document() -> None:
    cited = resolve_citations("Shipping takes 3 days [2]. Refunds within 30 days [3][1].", SOURCES)

    assert cited.text == "Shipping takes 3 days [1]. Refunds within 30 days [2]."
    assert [(c.number, c.title) for c in cited.citations] == [(1, "Shipping"), (2, "Refund policy")]


def test_markers_naming_no_passage_are_dropped() -> None:
    cited = resolve_citations("We are open daily [7]. Refunds take a week [1, 9].", SOURCES)

    assert cited.text == "We are open daily. Refunds take a week [1]."
    assert [c.document_id for c in cited.citations] == ["doc-refunds"]


def test_an_answer_without_markers_cites_nothing() -> None:
    cited = resolve_citations("Hello! How can I help?", SOURCES)

    assert cited.citations == ()


def test_footnotes_list_document_titles() -> None:
    cited = resolve_citations("Refunds within 30 days [1].", SOURCES)

    text = with_footnotes(cited.text, cited.citations, "Sources")

    assert text == "Refunds within 30 days [1].\n\nSources:\n[1] Refund policy"
    assert with_footnotes("Hi", (), "Sources") == "Hi"
