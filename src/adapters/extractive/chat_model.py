"""The answerer used when no language model is configured: it quotes the best passages retrieved for the
question, with their sources, and says plainly that no language model is configured. It never writes
anything the knowledge base does not say."""

from __future__ import annotations

import re

from application.ports.llm import ChatCompletion, ChatRequest, ChatRole, DeltaSink
from domain.conversations.citations import Source
from domain.conversations.handoff import normalise
from domain.conversations.phrases import Phrase, phrase

MAX_QUOTES = 3
MAX_QUOTE_CHARS = 400
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002])\s+")
# Words too common to say anything about relevance.
_MIN_TERM_LENGTH = 3


class ExtractiveChatModel:
    def __init__(self, context_tokens: int = 6000) -> None:
        self._context_tokens = context_tokens

    @property
    def name(self) -> str:
        return "extractive"

    @property
    def context_tokens(self) -> int:
        return self._context_tokens

    @property
    def uses_language_model(self) -> bool:
        return False

    async def complete(self, request: ChatRequest, on_delta: DeltaSink | None = None) -> ChatCompletion:
        question = _trailing_user_text(request)
        terms = {word for word in normalise(question).split() if len(word) >= _MIN_TERM_LENGTH}
        scored = [(_overlap(source.text, terms), source) for source in request.sources]
        if any(score for score, _ in scored):
            scored = [(score, source) for score, source in scored if score]
        quotes = [f"“{_best_excerpt(source, terms)}” [{source.number}]" for _, source in scored[:MAX_QUOTES]]
        if quotes:
            text = phrase(Phrase.NO_MODEL, request.language) + "\n\n" + "\n\n".join(quotes)
        else:
            text = phrase(Phrase.NOTHING_FOUND, request.language)
        if on_delta is not None:
            await on_delta(text)
        return ChatCompletion(text=text, model=self.name)


def _trailing_user_text(request: ChatRequest) -> str:
    texts: list[str] = []
    for message in reversed(request.messages):
        if message.role is not ChatRole.USER:
            break
        texts.append(message.content)
    return " ".join(reversed(texts))


def _overlap(text: str, terms: set[str]) -> int:
    return len(terms & set(normalise(text).split()))


def _best_excerpt(source: Source, terms: set[str]) -> str:
    """The run of consecutive sentences, within the length limit, that mentions the most question terms."""
    sentences = [sentence.strip() for sentence in _SENTENCE_END.split(source.text.strip()) if sentence.strip()]
    if not sentences:
        return ""
    best, best_score = sentences[0], -1
    for start in range(len(sentences)):
        excerpt = ""
        for sentence in sentences[start:]:
            candidate = f"{excerpt} {sentence}".strip()
            if len(candidate) > MAX_QUOTE_CHARS and excerpt:
                break
            excerpt = candidate
        score = _overlap(excerpt, terms)
        if score > best_score:
            best, best_score = excerpt, score
    return best if len(best) <= MAX_QUOTE_CHARS else best[: MAX_QUOTE_CHARS - 1].rstrip() + "…"
