"""Chunkers over hand-built documents: sizes, overlap, structure carried for citations, topic and Q&A splits."""

import itertools
import re
import threading
from collections.abc import Sequence

import pytest

from application.knowledge.chunking import (
    BREADCRUMB_SEPARATOR,
    FixedTokenChunker,
    QAChunker,
    RecursiveChunker,
    SemanticChunker,
    chunk_document,
)
from application.knowledge.text_units import ApproximateTokenCounter, split_sentences
from domain.common.errors import DomainError
from domain.knowledge.parsed import (
    BlockKind,
    ChunkingSettings,
    ChunkingStrategy,
    DocumentFormat,
    InvalidChunkingSettings,
    ParsedDocument,
    TextBlock,
)

COUNTER = ApproximateTokenCounter()


def paragraph(text: str, path: tuple[str, ...] = (), page: int | None = None) -> TextBlock:
    return TextBlock(text, page, path, BlockKind.PARAGRAPH)


def heading(path: tuple[str, ...], page: int | None = None) -> TextBlock:
    return TextBlock(path[-1], page, path, BlockKind.HEADING)


def document(*blocks: TextBlock) -> ParsedDocument:
    return ParsedDocument(DocumentFormat.MD, None, tuple(blocks), None)


def letters_word(index: int) -> str:
    """Distinct one-token words: aa, ab, … (digits would count as extra tokens)."""
    word = ""
    index += 26
    while index:
        index, rest = divmod(index, 26)
        word = chr(ord("a") + rest) + word
    return word


def numbered_sentences(topic: str, count: int) -> list[str]:
    return [f"Sentence {letters_word(i)} talks about {topic} in plain words." for i in range(count)]


class TestApproximateTokenCounter:
    def test_counts_words_and_punctuation(self) -> None:
        assert COUNTER.count("Hello, world!") == 4

    def test_long_words_and_numbers_cost_more_than_one_token(self) -> None:
        assert COUNTER.count("internationalisation") == 4
        assert COUNTER.count("1234567") == 3

    def test_unspaced_scripts_count_per_character(self) -> None:
        assert COUNTER.count("東京都に住んでいます") == 10


class TestSplitSentences:
    def test_keeps_abbreviations_initials_numbers_and_decimals_together(self) -> None:
        text = (
            "Dr. Smith paid 3.50 euros, e.g. by card. See No. 5 on p. 12 for J. R. Tolkien. "
            "It rose approx. three percent. Really? Yes! The end."
        )
        assert split_sentences(text) == [
            "Dr. Smith paid 3.50 euros, e.g. by card.",
            "See No. 5 on p. 12 for J. R. Tolkien.",
            "It rose approx. three percent.",
            "Really?",
            "Yes!",
            "The end.",
        ]

    def test_closing_quotes_stay_with_their_sentence(self) -> None:
        assert split_sentences('He said "stop." Then he left.') == ['He said "stop."', "Then he left."]

    def test_chinese_and_japanese_full_stops_need_no_space(self) -> None:
        assert split_sentences("今日は晴れです。明日は雨です。") == ["今日は晴れです。", "明日は雨です。"]


class TestChunkingSettings:
    def test_defaults_are_recursive_300_40(self) -> None:
        settings = ChunkingSettings()
        assert (settings.strategy, settings.chunk_tokens, settings.overlap_tokens) == (
            ChunkingStrategy.RECURSIVE,
            300,
            40,
        )

    @pytest.mark.parametrize(
        "arguments",
        [
            {"chunk_tokens": 0},
            {"chunk_tokens": 100_000},
            {"chunk_tokens": 100, "overlap_tokens": 100},
            {"chunk_tokens": 100, "overlap_tokens": 51},
            {"overlap_tokens": -1},
            {"semantic_threshold": 0.0},
            {"semantic_threshold": 1.0},
            {"strategy": "sliding"},
        ],
    )
    def test_rejects_inconsistent_settings(self, arguments: dict[str, object]) -> None:
        with pytest.raises(InvalidChunkingSettings) as raised:
            ChunkingSettings(**arguments)  # type: ignore[arg-type]
        assert isinstance(raised.value, ValueError)
        assert isinstance(raised.value, DomainError)


class TestFixedTokenChunker:
    def test_windows_respect_size_and_repeat_exactly_the_overlap(self) -> None:
        words = [letters_word(i) for i in range(230)]
        blocks = [
            paragraph(" ".join(words[:120]), ("Guide", "Part one"), page=1),
            paragraph(" ".join(words[120:]), ("Guide", "Part two"), page=2),
        ]
        chunks = FixedTokenChunker(COUNTER, chunk_tokens=50, overlap_tokens=10).chunk(blocks)

        chunk_words = [chunk.text.split() for chunk in chunks]
        assert all(chunk.token_count <= 50 for chunk in chunks)
        assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
        for previous, following in itertools.pairwise(chunk_words):
            assert following[:10] == previous[-10:]
        rebuilt = chunk_words[0] + [word for words_ in chunk_words[1:] for word in words_[10:]]
        assert rebuilt == words

    def test_chunk_cites_the_page_it_starts_on_and_the_path_all_its_words_share(self) -> None:
        blocks = [
            paragraph(" ".join(letters_word(i) for i in range(30)), ("Guide", "Part one"), page=1),
            paragraph(" ".join(letters_word(i) for i in range(30, 60)), ("Guide", "Part two"), page=2),
        ]
        chunks = FixedTokenChunker(COUNTER, chunk_tokens=40, overlap_tokens=0).chunk(blocks)
        assert [(chunk.page, chunk.heading_path) for chunk in chunks] == [
            (1, ("Guide",)),
            (2, ("Guide", "Part two")),
        ]
        assert "\n\n" in chunks[0].text  # the paragraph break survives inside the window

    def test_a_word_longer_than_a_chunk_is_cut(self) -> None:
        chunks = FixedTokenChunker(COUNTER, chunk_tokens=10, overlap_tokens=0).chunk([paragraph("x" * 400)])
        assert "".join(chunk.text for chunk in chunks) == "x" * 400
        assert all(chunk.token_count <= 10 for chunk in chunks)


class TestRecursiveChunker:
    def test_sections_become_chunks_prefixed_with_their_heading_path(self) -> None:
        billing = " ".join(numbered_sentences("invoices", 8))
        refunds = " ".join(numbered_sentences("refunds", 8))
        blocks = [
            heading(("Help",)),
            heading(("Help", "Billing")),
            paragraph(billing, ("Help", "Billing"), page=1),
            heading(("Help", "Refunds"), page=2),
            paragraph(refunds, ("Help", "Refunds"), page=2),
        ]
        chunks = RecursiveChunker(COUNTER, chunk_tokens=150, overlap_tokens=0).chunk(blocks)
        assert [(chunk.text, chunk.page, chunk.heading_path) for chunk in chunks] == [
            (f"Help{BREADCRUMB_SEPARATOR}Billing\n{billing}", 1, ("Help", "Billing")),
            (f"Help{BREADCRUMB_SEPARATOR}Refunds\n{refunds}", 2, ("Help", "Refunds")),
        ]

    def test_tiny_sections_merge_under_their_shared_path(self) -> None:
        blocks = [
            heading(("Guide",)),
            heading(("Guide", "Intro")),
            paragraph("Read this first.", ("Guide", "Intro")),
            heading(("Guide", "Scope")),
            paragraph("It covers billing.", ("Guide", "Scope")),
        ]
        chunks = RecursiveChunker(COUNTER, chunk_tokens=100, overlap_tokens=0).chunk(blocks)
        assert len(chunks) == 1
        assert chunks[0].heading_path == ("Guide",)
        assert chunks[0].text == "Guide\nIntro\nRead this first.\n\nScope\nIt covers billing."

    def test_long_paragraph_splits_between_sentences_with_whole_sentence_overlap(self) -> None:
        sentences = numbered_sentences("tariffs", 20)
        chunks = RecursiveChunker(COUNTER, chunk_tokens=60, overlap_tokens=15).chunk(
            [paragraph(" ".join(sentences), ("Prices",))]
        )
        assert len(chunks) > 3
        bodies: list[list[str]] = []
        for chunk in chunks:
            assert chunk.token_count <= 60
            crumb, body = chunk.text.split("\n", 1)
            assert crumb == "Prices"
            bodies.append(split_sentences(body))
            assert all(sentence in sentences for sentence in bodies[-1])
        for previous, following in itertools.pairwise(bodies):
            assert following[0] == previous[-1]  # one sentence (10 tokens) fits the 15-token overlap
        assert list(dict.fromkeys(sentence for body in bodies for sentence in body)) == sentences

    def test_table_rows_continue_under_a_repeated_header(self) -> None:
        rows = "\n".join(f"Plan {letters_word(i)} | {i} EUR" for i in range(40))
        table = TextBlock(f"Plan | Price\n{rows}", 4, ("Pricing",), BlockKind.TABLE)
        chunks = RecursiveChunker(COUNTER, chunk_tokens=60, overlap_tokens=0).chunk([table])
        assert len(chunks) > 2
        for chunk in chunks:
            assert chunk.text.startswith("Pricing\nPlan | Price\nPlan ")
            assert chunk.token_count <= 60
            assert chunk.page == 4

    def test_consecutive_list_items_stay_on_their_own_lines(self) -> None:
        blocks = [TextBlock(f"- step {word}", None, (), BlockKind.LIST_ITEM) for word in ("one", "two")]
        chunks = RecursiveChunker(COUNTER, chunk_tokens=100, overlap_tokens=0).chunk(blocks)
        assert [chunk.text for chunk in chunks] == ["- step one\n- step two"]


class KeywordTopicEmbedder:
    """Embeds a sentence as how many words it has from each topic's vocabulary, plus a small constant: sentences
    on one topic point the same way, sentences on different topics are nearly orthogonal."""

    def __init__(self, *topics: set[str]) -> None:
        self._topics = topics
        self.calls: list[list[str]] = []

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        vectors: list[list[float]] = []
        for text in texts:
            words = re.findall(r"\w+", text.lower())
            vectors.append([float(sum(word in topic for word in words)) for topic in self._topics] + [0.05])
        return vectors


COOKING = [
    "Boil the pasta in salted water for nine minutes.",
    "Meanwhile fry garlic in olive oil over low heat.",
    "Add chopped tomatoes to the garlic and simmer the sauce.",
    "Season the sauce with basil, salt and pepper.",
    "Drain the pasta and toss it with the tomato sauce.",
    "Serve the pasta with grated parmesan and fresh basil.",
]
ASTRONOMY = [
    "The telescope revealed a faint galaxy beyond the nebula.",
    "Every planet follows an elliptical orbit around its star.",
    "Astronomers measure the distance to a star with parallax.",
    "A galaxy contains billions of stars bound by gravity.",
    "The planet Jupiter has a strong magnetic field and many moons.",
    "Light from a distant galaxy shows a redshift in the telescope.",
]
COOKING_WORDS = {"pasta", "garlic", "oil", "tomatoes", "tomato", "sauce", "basil", "salt", "parmesan", "boil"}
ASTRONOMY_WORDS = {"telescope", "galaxy", "nebula", "planet", "orbit", "star", "stars", "parallax", "jupiter"}


class TestSemanticChunker:
    async def test_splits_where_the_topic_changes(self) -> None:
        embedder = KeywordTopicEmbedder(COOKING_WORDS, ASTRONOMY_WORDS)
        # One paragraph (about 140 tokens) that fits one chunk: only the embeddings can tell where to cut.
        blocks = [paragraph(" ".join(COOKING + ASTRONOMY), ("Notes",), page=7)]
        chunker = SemanticChunker(embedder.embed, COUNTER, chunk_tokens=200, breakpoint_share=0.1)

        chunks = await chunker.chunk(blocks)

        assert [chunk.text for chunk in chunks] == [
            "Notes\n" + " ".join(COOKING),
            "Notes\n" + " ".join(ASTRONOMY),
        ]
        assert [(chunk.ordinal, chunk.page, chunk.heading_path) for chunk in chunks] == [
            (0, 7, ("Notes",)),
            (1, 7, ("Notes",)),
        ]
        assert embedder.calls == [COOKING + ASTRONOMY]  # each sentence embedded once

    async def test_one_topic_longer_than_a_chunk_is_cut_within_the_size_bound(self) -> None:
        embedder = KeywordTopicEmbedder(COOKING_WORDS, ASTRONOMY_WORDS)
        sentences = COOKING * 5
        chunker = SemanticChunker(embedder.embed, COUNTER, chunk_tokens=60, breakpoint_share=0.1)
        chunks = await chunker.chunk([paragraph(" ".join(sentences))])
        assert len(chunks) > 3
        assert all(chunk.token_count <= 60 for chunk in chunks)
        assert [sentence for chunk in chunks for sentence in split_sentences(chunk.text)] == sentences

    async def test_embedder_returning_the_wrong_number_of_vectors_is_an_error(self) -> None:
        async def short_embed(texts: Sequence[str]) -> list[list[float]]:
            return [[1.0]]

        chunker = SemanticChunker(short_embed, COUNTER, chunk_tokens=300, breakpoint_share=0.1)
        with pytest.raises(ValueError, match="vectors"):
            await chunker.chunk([paragraph(" ".join(COOKING))])


class TestQAChunker:
    def test_one_chunk_per_question_heading(self) -> None:
        blocks = [
            heading(("FAQ",)),
            heading(("FAQ", "How do I reset my password?")),
            paragraph("Open Settings and choose Reset.", ("FAQ", "How do I reset my password?"), page=2),
            heading(("FAQ", "Can I pay by invoice?")),
            TextBlock("- Yes, on yearly plans.", 3, ("FAQ", "Can I pay by invoice?"), BlockKind.LIST_ITEM),
            TextBlock("- Ask sales first.", 3, ("FAQ", "Can I pay by invoice?"), BlockKind.LIST_ITEM),
        ]
        chunks = QAChunker(COUNTER, chunk_tokens=200, overlap_tokens=0).chunk(blocks)
        assert [(chunk.text, chunk.heading_path, chunk.page) for chunk in chunks] == [
            (
                "FAQ\nHow do I reset my password?\nOpen Settings and choose Reset.",
                ("FAQ", "How do I reset my password?"),
                None,
            ),
            (
                "FAQ\nCan I pay by invoice?\n- Yes, on yearly plans.\n- Ask sales first.",
                ("FAQ", "Can I pay by invoice?"),
                None,
            ),
        ]

    def test_q_and_a_markers_pair_up_and_are_dropped(self) -> None:
        blocks = [
            paragraph("Welcome to the help page of the shop."),
            paragraph("Q: Do you ship abroad?"),
            paragraph("A: Yes, to all EU countries."),
            paragraph("Customs fees are paid by the buyer."),
            paragraph("Question 2: How long does delivery take? Answer: Three to five days."),
        ]
        chunks = QAChunker(COUNTER, chunk_tokens=200, overlap_tokens=0).chunk(blocks)
        assert [chunk.text for chunk in chunks] == [
            "Welcome to the help page of the shop.",
            "Do you ship abroad?\nYes, to all EU countries.\n\nCustoms fees are paid by the buyer.",
            "How long does delivery take?\nThree to five days.",
        ]
        assert [chunk.ordinal for chunk in chunks] == [0, 1, 2]

    def test_a_long_answer_repeats_its_question_on_every_part(self) -> None:
        answer = " ".join(numbered_sentences("delivery", 12))
        blocks = [heading(("Why is my order late?",)), paragraph(answer, ("Why is my order late?",))]
        chunks = QAChunker(COUNTER, chunk_tokens=60, overlap_tokens=0).chunk(blocks)
        assert len(chunks) > 1
        assert all(chunk.text.startswith("Why is my order late?\nSentence ") for chunk in chunks)
        assert all(chunk.token_count <= 60 for chunk in chunks)

    def test_without_questions_it_chunks_like_the_recursive_chunker(self) -> None:
        blocks = [heading(("Guide",)), paragraph(" ".join(numbered_sentences("setup", 20)), ("Guide",))]
        qa = QAChunker(COUNTER, chunk_tokens=80, overlap_tokens=10).chunk(blocks)
        assert qa == RecursiveChunker(COUNTER, chunk_tokens=80, overlap_tokens=10).chunk(blocks)


class TestChunkDocument:
    async def test_picks_the_strategy_from_the_settings(self) -> None:
        parsed = document(heading(("Intro",)), paragraph("Plain words here.", ("Intro",)))
        fixed = await chunk_document(parsed, ChunkingSettings(strategy=ChunkingStrategy.FIXED))
        recursive = await chunk_document(parsed, ChunkingSettings(strategy=ChunkingStrategy.RECURSIVE))
        assert [chunk.text for chunk in fixed] == ["Intro\n\nPlain words here."]
        assert [chunk.text for chunk in recursive] == ["Intro\nPlain words here."]

    async def test_semantic_strategy_uses_the_embed_function(self) -> None:
        embedder = KeywordTopicEmbedder(COOKING_WORDS, ASTRONOMY_WORDS)
        parsed = document(paragraph(" ".join(COOKING + ASTRONOMY)))
        settings = ChunkingSettings(strategy=ChunkingStrategy.SEMANTIC, chunk_tokens=200, overlap_tokens=0)
        chunks = await chunk_document(parsed, settings, embedder.embed)
        assert len(chunks) == 2
        assert embedder.calls

    async def test_semantic_strategy_without_embed_function_is_refused(self) -> None:
        settings = ChunkingSettings(strategy=ChunkingStrategy.SEMANTIC)
        with pytest.raises(ValueError, match="embed"):
            await chunk_document(document(paragraph("Text.")), settings)

    @pytest.mark.parametrize("strategy", list(ChunkingStrategy))
    async def test_tokens_are_counted_off_the_event_loop(self, strategy: ChunkingStrategy) -> None:
        class ThreadRecordingCounter:
            def __init__(self) -> None:
                self.threads: set[int] = set()

            def count(self, text: str) -> int:
                self.threads.add(threading.get_ident())
                return COUNTER.count(text)

        counter = ThreadRecordingCounter()
        parsed = document(paragraph(" ".join(COOKING + ASTRONOMY)))
        embedder = KeywordTopicEmbedder(COOKING_WORDS, ASTRONOMY_WORDS)

        chunks = await chunk_document(
            parsed, ChunkingSettings(strategy=strategy), embedder.embed, token_counter=counter
        )

        assert chunks
        assert counter.threads
        assert threading.get_ident() not in counter.threads

    async def test_a_document_without_blocks_has_no_chunks(self) -> None:
        for strategy in (ChunkingStrategy.FIXED, ChunkingStrategy.RECURSIVE, ChunkingStrategy.QA):
            assert await chunk_document(document(), ChunkingSettings(strategy=strategy)) == []
