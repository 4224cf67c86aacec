"""Cut a parsed document into token-sized chunks that keep their page and heading path for citations.

Four strategies, picked per tenant or per document through `ChunkingSettings`:
- fixed: sliding token windows with overlap over the raw text, blind to structure (the baseline);
- recursive: sections (headings) → paragraphs → sentences → words, never crossing a heading except to merge
  sections too small to stand alone;
- semantic: sentence runs cut where the embedding similarity of neighbouring sentences drops;
- qa: one chunk per question/answer pair; everything else is chunked recursively.

Recursive, semantic and Q&A chunks begin with a breadcrumb line of their heading path ("Billing > Refunds"
joined with BREADCRUMB_SEPARATOR). A chunk retrieved on its own is then still about something: "Within 30
days." means nothing to the embedder or the LLM without "Refunds" above it. The breadcrumb is counted in the
chunk's token budget. Fixed chunks stay raw text: that strategy exists as the structure-blind baseline.
"""

import asyncio
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence

import attrs

from application.knowledge.text_units import ApproximateTokenCounter, split_sentences
from application.ports.documents import TokenCounter
from domain.knowledge.parsed import (
    BlockKind,
    ChunkDraft,
    ChunkingSettings,
    ChunkingStrategy,
    ParsedDocument,
    TextBlock,
)

EmbedFunction = Callable[[Sequence[str]], Awaitable[list[list[float]]]]

BREADCRUMB_SEPARATOR = " \u203a "  # single right-pointing angle quote: rarely part of a heading
_BREADCRUMB_HEADING_CHARS = 80
_WORD = re.compile(r"\S+")


@attrs.frozen
class _Piece:
    """An unbreakable run of text (a block, sentence, table row or word window) with where it came from."""

    text: str
    tokens: int
    page: int | None
    heading_path: tuple[str, ...]
    separator: str  # joins it to the piece before it in the same chunk
    table_header: str | None = None  # repeated above the row when a chunk starts in the middle of a table
    header_tokens: int = 0


def _block_separator(previous: TextBlock | None, block: TextBlock) -> str:
    if previous is not None and previous.kind is BlockKind.LIST_ITEM and block.kind is BlockKind.LIST_ITEM:
        return "\n"
    return "\n\n"


def _common_prefix(paths: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    iterator = iter(paths)
    prefix = next(iterator, ())
    for path in iterator:
        length = 0
        for left, right in zip(prefix, path, strict=False):
            if left != right:
                break
            length += 1
        prefix = prefix[:length]
    return prefix


def _chunk_cost(pieces: Sequence[_Piece]) -> int:
    return sum(piece.tokens for piece in pieces) + (pieces[0].header_tokens if pieces else 0)


def _number(drafts: Iterable[ChunkDraft]) -> list[ChunkDraft]:
    return [attrs.evolve(draft, ordinal=ordinal) for ordinal, draft in enumerate(drafts)]


class _Splitter:
    """Breaks blocks into pieces no larger than a token budget, at the coarsest boundary that fits."""

    def __init__(self, counter: TokenCounter) -> None:
        self._counter = counter

    def block_pieces(
        self, block: TextBlock, separator: str, budget: int, *, sentences_always: bool = False
    ) -> list[_Piece]:
        tokens = self._counter.count(block.text)
        prose = block.kind in (BlockKind.PARAGRAPH, BlockKind.LIST_ITEM, BlockKind.HEADING)
        if tokens <= budget and not (sentences_always and prose):
            return [_Piece(block.text, tokens, block.page, block.heading_path, separator)]
        if prose:
            return self._unit_pieces(block, split_sentences(block.text), separator, " ", budget)
        lines = [line for line in block.text.split("\n") if line.strip()]
        if block.kind is BlockKind.TABLE and len(lines) > 1:
            return self._table_pieces(block, lines, separator, budget)
        return self._unit_pieces(block, lines, separator, "\n", budget)

    def _table_pieces(self, block: TextBlock, rows: list[str], separator: str, budget: int) -> list[_Piece]:
        header, header_tokens = rows[0], self._counter.count(rows[0])
        pieces = self._unit_pieces(block, rows, separator, "\n", budget)
        # A row far from its header ("12 | 4.50") says nothing; repeat the header when it is cheap enough.
        if header_tokens > budget // 4:
            return pieces
        return [
            pieces[0],
            *(
                attrs.evolve(piece, table_header=header, header_tokens=header_tokens)
                if piece.tokens + header_tokens <= budget
                else piece
                for piece in pieces[1:]
            ),
        ]

    def _unit_pieces(
        self, block: TextBlock, units: list[str], separator: str, joiner: str, budget: int
    ) -> list[_Piece]:
        pieces: list[_Piece] = []
        for unit in units:
            tokens = self._counter.count(unit)
            windows = [(unit, tokens)] if tokens <= budget else self.word_windows(unit, budget)
            for text, window_tokens in windows:
                piece_separator = joiner if pieces else separator
                pieces.append(_Piece(text, window_tokens, block.page, block.heading_path, piece_separator))
        return pieces

    def word_windows(self, text: str, budget: int) -> list[tuple[str, int]]:
        """Consecutive slices of `text` cut between words, each within `budget`."""
        windows: list[tuple[str, int]] = []
        window_start = window_end = 0
        window_tokens = 0
        for match in _WORD.finditer(text):
            word_tokens = self._counter.count(match.group())
            if window_tokens and window_tokens + word_tokens > budget:
                windows.append((text[window_start:window_end], window_tokens))
                window_tokens = 0
            if word_tokens > budget:
                windows.extend((part, self._counter.count(part)) for part in self.split_word(match.group(), budget))
                continue
            if not window_tokens:
                window_start = match.start()
            window_end = match.end()
            window_tokens += word_tokens
        if window_tokens:
            windows.append((text[window_start:window_end], window_tokens))
        return windows

    def split_word(self, word: str, budget: int) -> list[str]:
        """Cut a run without spaces (a URL, base64, unspaced script) into character slices within `budget`."""
        parts: list[str] = []
        step = max(1, len(word) * budget // max(1, self._counter.count(word)))
        position = 0
        while position < len(word):
            part = word[position : position + step]
            while len(part) > 1 and self._counter.count(part) > budget:
                part = part[: len(part) // 2]
            parts.append(part)
            position += len(part)
        return parts


class _Renderer:
    """Turns pieces into chunk text: breadcrumb of the shared heading path, then the pieces, with a heading
    line wherever the content moves into another section (only happens in merged chunks)."""

    def __init__(self, counter: TokenCounter, chunk_tokens: int) -> None:
        self._counter = counter
        self._chunk_tokens = chunk_tokens
        self._breadcrumbs: dict[tuple[str, ...], tuple[str, int]] = {}

    def count(self, text: str) -> int:
        return self._counter.count(text)

    def breadcrumb(self, path: tuple[str, ...]) -> tuple[str, int]:
        """The breadcrumb line for `path` and its tokens, shortened so it never takes over a chunk."""
        if path not in self._breadcrumbs:
            self._breadcrumbs[path] = self._fit_breadcrumb(path)
        return self._breadcrumbs[path]

    def _fit_breadcrumb(self, path: tuple[str, ...]) -> tuple[str, int]:
        if not path:
            return "", 0
        limit = self._chunk_tokens // 4
        headings = [
            heading if len(heading) <= _BREADCRUMB_HEADING_CHARS else heading[:_BREADCRUMB_HEADING_CHARS] + "…"
            for heading in path
        ]
        line = BREADCRUMB_SEPARATOR.join(headings)
        tokens = self._counter.count(line)
        # Drop outer headings first: the innermost one says most about the chunk.
        while tokens > limit and len(headings) > 1:
            headings.pop(0)
            line = "…" + BREADCRUMB_SEPARATOR + BREADCRUMB_SEPARATOR.join(headings)
            tokens = self._counter.count(line)
        while tokens > limit:
            if len(line) <= 2:  # chunks too small to afford any breadcrumb
                return "", 0
            line = line[: len(line) // 2] + "…"
            tokens = self._counter.count(line)
        return line, tokens

    def body(self, pieces: Sequence[_Piece], base_path: tuple[str, ...]) -> str:
        parts: list[str] = []
        previous_path = base_path
        for index, piece in enumerate(pieces):
            entered: tuple[str, ...] = ()
            if piece.heading_path != previous_path:
                shared = len(_common_prefix((previous_path, piece.heading_path)))
                entered = piece.heading_path[max(shared, len(base_path)) :]
            if entered:
                if parts:
                    parts.append("\n\n")
                parts.append(BREADCRUMB_SEPARATOR.join(entered))
                parts.append("\n")
            elif parts:
                parts.append(piece.separator)
            if index == 0 and piece.table_header is not None:
                parts.append(piece.table_header)
                parts.append("\n")
            parts.append(piece.text)
            previous_path = piece.heading_path
        return "".join(parts)

    def text(self, pieces: Sequence[_Piece]) -> tuple[str, tuple[str, ...]]:
        path = _common_prefix(piece.heading_path for piece in pieces)
        body = self.body(pieces, path)
        crumb, _ = self.breadcrumb(path)
        return (f"{crumb}\n{body}" if crumb else body), path

    def tokens(self, pieces: Sequence[_Piece]) -> int:
        return self._counter.count(self.text(pieces)[0])

    def draft(self, pieces: Sequence[_Piece]) -> ChunkDraft:
        text, path = self.text(pieces)
        return ChunkDraft(
            text=text,
            ordinal=0,
            page=pieces[0].page,
            heading_path=path,
            token_count=self._counter.count(text),
        )


def _pack(pieces: Sequence[_Piece], budget: int, overlap_tokens: int) -> list[list[_Piece]]:
    """Greedy packing in order; a new chunk repeats the previous chunk's trailing pieces up to the overlap."""
    chunks: list[list[_Piece]] = []
    current: list[_Piece] = []
    used = 0
    for piece in pieces:
        if current and used + piece.tokens > budget:
            chunks.append(current)
            current = _overlap_tail(current, overlap_tokens)
            used = _chunk_cost(current)
            while current and used + piece.tokens > budget:
                current.pop(0)
                used = _chunk_cost(current)
        if not current:
            used = piece.header_tokens
        current.append(piece)
        used += piece.tokens
    if current:
        chunks.append(current)
    return chunks


def _overlap_tail(chunk: list[_Piece], overlap_tokens: int) -> list[_Piece]:
    tail: list[_Piece] = []
    tokens = 0
    # Never the whole chunk: every chunk must bring something new.
    for piece in reversed(chunk[1:]):
        if tokens + piece.tokens > overlap_tokens:
            break
        tail.append(piece)
        tokens += piece.tokens
    tail.reverse()
    return tail


@attrs.frozen
class _Section:
    path: tuple[str, ...]
    blocks: tuple[TextBlock, ...]


def _sections(blocks: Sequence[TextBlock]) -> list[_Section]:
    """Consecutive content blocks under the same heading path. Heading blocks carry no content of their own:
    their text reaches the chunks through the breadcrumb."""
    content = [block for block in blocks if block.kind is not BlockKind.HEADING]
    if not content:  # a document of headings only still has text worth indexing
        content = [attrs.evolve(block, kind=BlockKind.PARAGRAPH) for block in blocks]
    sections: list[_Section] = []
    current: list[TextBlock] = []
    for block in content:
        if current and block.heading_path != current[0].heading_path:
            sections.append(_Section(current[0].heading_path, tuple(current)))
            current = []
        current.append(block)
    if current:
        sections.append(_Section(current[0].heading_path, tuple(current)))
    return sections


class FixedTokenChunker:
    """Windows of `chunk_tokens` over the document's words, each repeating `overlap_tokens` of the last."""

    def __init__(self, counter: TokenCounter, chunk_tokens: int, overlap_tokens: int) -> None:
        self._counter = counter
        self._splitter = _Splitter(counter)
        self._chunk_tokens = chunk_tokens
        self._overlap_tokens = overlap_tokens

    def chunk(self, blocks: Sequence[TextBlock]) -> list[ChunkDraft]:
        # Parallel lists rather than one object per word: a long text file has millions of words.
        words: list[str] = []
        word_tokens: list[int] = []
        separators: list[str] = []
        word_blocks: list[TextBlock] = []
        previous: TextBlock | None = None
        for block in blocks:
            block_separator = _block_separator(previous, block)
            previous = block
            previous_end: int | None = None
            for match in _WORD.finditer(block.text):
                if previous_end is None:
                    separator = block_separator
                else:
                    separator = "\n" if "\n" in block.text[previous_end : match.start()] else " "
                previous_end = match.end()
                tokens = self._counter.count(match.group())
                parts = (
                    [match.group()]
                    if tokens <= self._chunk_tokens
                    else self._splitter.split_word(match.group(), self._chunk_tokens)
                )
                for part_index, part in enumerate(parts):
                    words.append(part)
                    word_tokens.append(tokens if len(parts) == 1 else self._counter.count(part))
                    separators.append(separator if part_index == 0 else "")
                    word_blocks.append(block)
        drafts: list[ChunkDraft] = []
        start = 0
        while start < len(words):
            end = start
            used = 0
            while end < len(words) and used + word_tokens[end] <= self._chunk_tokens:
                used += word_tokens[end]
                end += 1
            text = words[start] + "".join(separators[i] + words[i] for i in range(start + 1, end))
            covered = word_blocks[start:end]
            drafts.append(
                ChunkDraft(
                    text=text,
                    ordinal=len(drafts),
                    page=covered[0].page,
                    heading_path=_common_prefix(block.heading_path for block in covered),
                    token_count=self._counter.count(text),
                )
            )
            if end >= len(words):
                break
            next_start = end
            repeated = 0
            while next_start - 1 > start and repeated + word_tokens[next_start - 1] <= self._overlap_tokens:
                next_start -= 1
                repeated += word_tokens[next_start]
            start = next_start
        return drafts


class RecursiveChunker:
    def __init__(self, counter: TokenCounter, chunk_tokens: int, overlap_tokens: int) -> None:
        self._splitter = _Splitter(counter)
        self._renderer = _Renderer(counter, chunk_tokens)
        self._chunk_tokens = chunk_tokens
        self._overlap_tokens = overlap_tokens
        # A section below this size is merged with its neighbour rather than left as a near-empty chunk.
        self._small_section_tokens = chunk_tokens // 4

    def chunk(self, blocks: Sequence[TextBlock]) -> list[ChunkDraft]:
        packs: list[tuple[list[_Piece], bool]] = []  # pieces, and whether they are a whole section
        for section in _sections(blocks):
            budget = self._chunk_tokens - self._renderer.breadcrumb(section.path)[1]
            pieces: list[_Piece] = []
            previous: TextBlock | None = None
            for block in section.blocks:
                pieces.extend(self._splitter.block_pieces(block, _block_separator(previous, block), budget))
                previous = block
            section_packs = _pack(pieces, budget, self._overlap_tokens)
            packs.extend((pack, len(section_packs) == 1) for pack in section_packs)
        return _number(self._renderer.draft(pack) for pack in self._merge_small_sections(packs))

    def _merge_small_sections(self, packs: list[tuple[list[_Piece], bool]]) -> list[list[_Piece]]:
        """Groups runs of whole sections when one side is small. Sizes are added up rather than re-rendered per
        candidate (a merged chunk repeats no breadcrumb, so the sum is an upper bound); each group is rendered
        once at the end to confirm it fits."""
        merged: list[list[_Piece]] = []
        group: list[list[_Piece]] = []
        group_tokens = 0
        group_is_whole = False
        for pack, is_whole in packs:
            tokens = self._renderer.tokens(pack)
            if (
                group
                and group_is_whole
                and is_whole
                and min(group_tokens, tokens) < self._small_section_tokens
                and group_tokens + tokens <= self._chunk_tokens
            ):
                group.append(pack)
                group_tokens += tokens
                continue
            merged.extend(self._confirmed(group))
            group, group_tokens, group_is_whole = [pack], tokens, is_whole
        merged.extend(self._confirmed(group))
        return merged

    def _confirmed(self, group: list[list[_Piece]]) -> list[list[_Piece]]:
        if len(group) < 2:
            return group
        combined = [piece for pack in group for piece in pack]
        # Heading lines are never shortened the way breadcrumbs are: very long headings can break the bound.
        return [combined] if self._renderer.tokens(combined) <= self._chunk_tokens else group


class SemanticChunker:
    """Sentences grouped into chunks cut where the topic shifts.

    Each sentence is embedded once. The similarity at a boundary compares the mean of the two sentences before
    it with the mean of the two after it, so one odd sentence does not look like a topic change. The least
    similar `breakpoint_share` of boundaries become cuts; runs over `chunk_tokens` are cut again at their own
    least similar boundary, and runs under `min_tokens` join the neighbour they are most similar to.
    No overlap: a chunk boundary here is a change of subject, and repeating the other subject only blurs it.
    """

    _EMBED_BATCH = 64
    _WINDOW = 2

    def __init__(
        self,
        embed: EmbedFunction,
        counter: TokenCounter,
        chunk_tokens: int,
        breakpoint_share: float,
        min_tokens: int | None = None,
    ) -> None:
        self._embed = embed
        self._splitter = _Splitter(counter)
        self._renderer = _Renderer(counter, chunk_tokens)
        self._chunk_tokens = chunk_tokens
        self._breakpoint_share = breakpoint_share
        self._min_tokens = chunk_tokens // 4 if min_tokens is None else min_tokens

    async def chunk(self, blocks: Sequence[TextBlock]) -> list[ChunkDraft]:
        # Splitting and counting before the embedding, and the cutting after it, run in a thread as the other
        # strategies do: they count tokens, which a model's tokenizer makes too slow for the event loop.
        pieces = await asyncio.to_thread(self._pieces, blocks)
        if len(pieces) <= 1:
            return [self._renderer.draft(pieces)] if pieces else []
        vectors = await self._embed_all([piece.text for piece in pieces])
        return await asyncio.to_thread(self._cut, pieces, vectors)

    def _pieces(self, blocks: Sequence[TextBlock]) -> list[_Piece]:
        pieces: list[_Piece] = []
        previous: TextBlock | None = None
        for section in _sections(blocks):
            budget = self._chunk_tokens - self._renderer.breadcrumb(section.path)[1]
            for block in section.blocks:
                pieces.extend(
                    self._splitter.block_pieces(block, _block_separator(previous, block), budget, sentences_always=True)
                )
                previous = block
        return pieces

    def _cut(self, pieces: list[_Piece], vectors: list[list[float]]) -> list[ChunkDraft]:
        similarities = _boundary_similarities(vectors, self._WINDOW)
        segments = self._split_at_breakpoints(len(pieces), similarities)
        bounded = [part for segment in segments for part in self._split_oversized(segment, similarities, pieces)]
        final = self._merge_undersized(bounded, similarities, pieces)
        return _number(self._renderer.draft(pieces[start:end]) for start, end in final)

    async def _embed_all(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for offset in range(0, len(texts), self._EMBED_BATCH):
            batch = texts[offset : offset + self._EMBED_BATCH]
            batch_vectors = await self._embed(batch)
            if len(batch_vectors) != len(batch):
                raise ValueError(f"embed returned {len(batch_vectors)} vectors for {len(batch)} texts")
            vectors.extend(batch_vectors)
        return vectors

    def _split_at_breakpoints(self, count: int, similarities: list[float]) -> list[tuple[int, int]]:
        # A document whose boundaries are all alike has no topic change to find.
        if max(similarities) - min(similarities) < 1e-9:
            return [(0, count)]
        cutoff = _quantile(similarities, self._breakpoint_share)
        segments: list[tuple[int, int]] = []
        start = 0
        for boundary, similarity in enumerate(similarities):
            if similarity <= cutoff:
                segments.append((start, boundary + 1))
                start = boundary + 1
        segments.append((start, count))
        return segments

    def _split_oversized(
        self, segment: tuple[int, int], similarities: list[float], pieces: list[_Piece]
    ) -> list[tuple[int, int]]:
        result: list[tuple[int, int]] = []
        pending = [segment]
        while pending:
            start, end = pending.pop()
            if end - start <= 1 or self._renderer.tokens(pieces[start:end]) <= self._chunk_tokens:
                result.append((start, end))
                continue
            cut = self._weakest_boundary(start, end, similarities, pieces)
            pending.append((cut + 1, end))
            pending.append((start, cut + 1))
        return result

    def _weakest_boundary(self, start: int, end: int, similarities: list[float], pieces: list[_Piece]) -> int:
        """The least similar boundary in [start, end), preferring cuts that leave both sides big enough."""
        total = sum(piece.tokens for piece in pieces[start:end])
        candidates: list[tuple[bool, float, int]] = []
        left_tokens = 0
        for boundary in range(start, end - 1):
            left_tokens += pieces[boundary].tokens
            balanced = left_tokens >= self._min_tokens and total - left_tokens >= self._min_tokens
            candidates.append((not balanced, similarities[boundary], boundary))
        return min(candidates)[2]

    def _merge_undersized(
        self, segments: list[tuple[int, int]], similarities: list[float], pieces: list[_Piece]
    ) -> list[tuple[int, int]]:
        merged: list[tuple[int, int]] = []
        carried: tuple[int, int] | None = None  # a small segment waiting to join the next one
        for index, (segment_start, end) in enumerate(segments):
            start = segment_start
            if carried is not None:
                if self._fits(pieces[carried[0] : end]):
                    start = carried[0]
                else:
                    merged.append(carried)
                carried = None
            if sum(piece.tokens for piece in pieces[start:end]) >= self._min_tokens:
                merged.append((start, end))
                continue
            is_last = index == len(segments) - 1
            closer_to_previous = bool(merged) and (is_last or similarities[start - 1] >= similarities[end - 1])
            if closer_to_previous and self._fits(pieces[merged[-1][0] : end]):
                merged[-1] = (merged[-1][0], end)
            elif not is_last:
                carried = (start, end)
            else:
                merged.append((start, end))
        return merged

    def _fits(self, pieces: Sequence[_Piece]) -> bool:
        return self._renderer.tokens(pieces) <= self._chunk_tokens


def _boundary_similarities(vectors: list[list[float]], window: int) -> list[float]:
    unit_vectors = [_normalised(vector) for vector in vectors]
    similarities: list[float] = []
    for boundary in range(len(unit_vectors) - 1):
        before = _mean(unit_vectors[max(0, boundary - window + 1) : boundary + 1])
        after = _mean(unit_vectors[boundary + 1 : boundary + 1 + window])
        similarities.append(_cosine(before, after))
    return similarities


def _normalised(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector] if norm else vector


def _mean(vectors: list[list[float]]) -> list[float]:
    return [sum(values) / len(vectors) for values in zip(*vectors, strict=True)]


def _cosine(left: list[float], right: list[float]) -> float:
    norms = math.sqrt(sum(value * value for value in left)) * math.sqrt(sum(value * value for value in right))
    return sum(a * b for a, b in zip(left, right, strict=True)) / norms if norms else 0.0


def _quantile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


_QUESTION_ENDINGS = ("?", "\uff1f", "\u061f")  # also the fullwidth and Arabic question marks
# "Q:", "Q1.", "Question 3)" — a period or parenthesis only when a space follows, so "Q.E.D." is no question.
# Possessive quantifiers: a marker followed by a long run of spaces is tried once, not once per space.
_QUESTION_MARKER = re.compile(r"^\s*+(?:Q|[Qq]uestion|QUESTION) ?+\d{0,4}+ ?+(?::\s*+|[.)]\s++)(?=\S)")
_ANSWER_MARKER = re.compile(r"(?:^|(?<=\s))(?:A|[Aa]nswer|ANSWER) ?+\d{0,4}+ ?+(?::\s*+|[.)]\s++)(?=\S)")


@attrs.frozen
class _QuestionAnswer:
    question: str
    page: int | None
    heading_path: tuple[str, ...]  # the chunk's path: ends with the question when the question is a heading
    context_path: tuple[str, ...]  # what is shown above the question
    answer: tuple[TextBlock, ...]


class QAChunker:
    """One chunk per question and its answer, for FAQ-style documents.

    Questions are headings ending in "?" (bold question lines, <dt> and <summary> arrive as such headings from
    the parsers) and paragraphs opened by "Q:"/"Question:", answered by the text up to the next question or
    heading ("A:"/"Answer:" markers are dropped). Each chunk reads breadcrumb, question, answer; a long answer
    is split with the question repeated on every part. Text outside any pair is chunked recursively, and a
    document without questions entirely so.
    """

    def __init__(self, counter: TokenCounter, chunk_tokens: int, overlap_tokens: int) -> None:
        self._counter = counter
        self._splitter = _Splitter(counter)
        self._renderer = _Renderer(counter, chunk_tokens)
        self._recursive = RecursiveChunker(counter, chunk_tokens, overlap_tokens)
        self._chunk_tokens = chunk_tokens
        self._overlap_tokens = overlap_tokens

    def chunk(self, blocks: Sequence[TextBlock]) -> list[ChunkDraft]:
        items = self._find_pairs(blocks)
        if not any(isinstance(item, _QuestionAnswer) for item in items):
            return self._recursive.chunk(blocks)
        drafts: list[ChunkDraft] = []
        for item in items:
            if isinstance(item, _QuestionAnswer):
                drafts.extend(self._pair_chunks(item))
            else:
                drafts.extend(self._recursive.chunk(item))
        return _number(drafts)

    def _is_short_question(self, text: str) -> bool:
        return self._counter.count(text) <= self._chunk_tokens // 3

    def _find_pairs(self, blocks: Sequence[TextBlock]) -> list[_QuestionAnswer | list[TextBlock]]:
        """Pairs, and runs of the blocks between them, in document order."""
        items: list[_QuestionAnswer | list[TextBlock]] = []
        other: list[TextBlock] = []
        index = 0
        while index < len(blocks):
            pair, following = self._pair_at(blocks, index)
            if pair is None:
                if blocks[index].kind is not BlockKind.HEADING:  # a heading lives on in the breadcrumbs
                    other.append(blocks[index])
            else:
                if other:
                    items.append(other)
                    other = []
                items.append(pair)
            index = following
        if other:
            items.append(other)
        return items

    def _pair_at(self, blocks: Sequence[TextBlock], index: int) -> tuple[_QuestionAnswer | None, int]:
        """The pair starting at `index` and the index after it, or None and the next index."""
        block = blocks[index]
        if block.kind is BlockKind.HEADING:
            if block.text.rstrip().endswith(_QUESTION_ENDINGS) and self._is_short_question(block.text):
                return self._heading_pair(blocks, index)
        elif block.kind is BlockKind.PARAGRAPH and (marker := _QUESTION_MARKER.match(block.text)):
            return self._marker_pair(blocks, index, marker.end())
        return None, index + 1

    def _heading_pair(self, blocks: Sequence[TextBlock], index: int) -> tuple[_QuestionAnswer, int]:
        heading = blocks[index]
        path = heading.heading_path
        end = index + 1
        while end < len(blocks) and blocks[end].heading_path[: len(path)] == path:
            end += 1
        answer = tuple(block for block in blocks[index + 1 : end] if block.kind is not BlockKind.HEADING)
        pair = _QuestionAnswer(heading.text.strip(), heading.page, path, path[:-1], answer)
        return pair, end

    def _marker_pair(
        self, blocks: Sequence[TextBlock], index: int, question_start: int
    ) -> tuple[_QuestionAnswer | None, int]:
        block = blocks[index]
        text = block.text[question_start:]
        answer: list[TextBlock] = []
        # "Q: How? A: Like this." in one paragraph: the answer starts at the first marker after the question.
        search_from = text.find("?") + 1
        inline_answer = _ANSWER_MARKER.search(text, search_from)
        if inline_answer is not None:
            answer.append(attrs.evolve(block, text=text[inline_answer.end() :].strip()))
            text = text[: inline_answer.start()]
        question = text.strip()
        if not question or not self._is_short_question(question):
            return None, index + 1
        end = index + 1
        while end < len(blocks):
            following = blocks[end]
            if following.kind is BlockKind.HEADING or following.heading_path != block.heading_path:
                break
            if following.kind is BlockKind.PARAGRAPH and _QUESTION_MARKER.match(following.text):
                break
            answer_marker = _ANSWER_MARKER.match(following.text)
            if answer_marker is not None:
                following = attrs.evolve(following, text=following.text[answer_marker.end() :].strip())
            answer.append(following)
            end += 1
        pair = _QuestionAnswer(question, block.page, block.heading_path, block.heading_path, tuple(answer))
        return pair, end

    def _pair_chunks(self, pair: _QuestionAnswer) -> list[ChunkDraft]:
        crumb, _ = self._renderer.breadcrumb(pair.context_path)
        head = f"{crumb}\n{pair.question}" if crumb else pair.question
        budget = max(1, self._chunk_tokens - self._counter.count(head))
        pieces: list[_Piece] = []
        previous: TextBlock | None = None
        for block in pair.answer:
            if block.text:
                pieces.extend(self._splitter.block_pieces(block, _block_separator(previous, block), budget))
                previous = block
        packs = _pack(pieces, budget, self._overlap_tokens) or [[]]
        drafts: list[ChunkDraft] = []
        for pack in packs:
            body = self._renderer.body(pack, pair.heading_path)
            text = f"{head}\n{body}" if body else head
            drafts.append(
                ChunkDraft(
                    text=text,
                    ordinal=0,
                    page=pair.page,
                    heading_path=pair.heading_path,
                    token_count=self._counter.count(text),
                )
            )
        return drafts


async def chunk_document(
    parsed: ParsedDocument,
    settings: ChunkingSettings,
    embed: EmbedFunction | None = None,
    *,
    token_counter: TokenCounter | None = None,
) -> list[ChunkDraft]:
    """Chunk `parsed` with the strategy in `settings`; `embed` is required for the semantic strategy only.

    Chunking runs in a thread (the semantic strategy's embedding calls aside): counting a megabyte's tokens
    with a model's tokenizer takes about a second, which the worker's event loop (conversation turns) must not
    wait for."""
    counter: TokenCounter = token_counter if token_counter is not None else ApproximateTokenCounter()
    blocks = parsed.blocks
    match settings.strategy:
        case ChunkingStrategy.FIXED:
            fixed = FixedTokenChunker(counter, settings.chunk_tokens, settings.overlap_tokens)
            return await asyncio.to_thread(fixed.chunk, blocks)
        case ChunkingStrategy.RECURSIVE:
            recursive = RecursiveChunker(counter, settings.chunk_tokens, settings.overlap_tokens)
            return await asyncio.to_thread(recursive.chunk, blocks)
        case ChunkingStrategy.QA:
            qa = QAChunker(counter, settings.chunk_tokens, settings.overlap_tokens)
            return await asyncio.to_thread(qa.chunk, blocks)
        case ChunkingStrategy.SEMANTIC:
            if embed is None:
                raise ValueError("the semantic chunking strategy needs an embed function")
            chunker = SemanticChunker(embed, counter, settings.chunk_tokens, settings.semantic_threshold)
            return await chunker.chunk(blocks)
