"""Port for turning texts into vectors for semantic search."""

from collections.abc import Sequence
from typing import Protocol

from application.ports.documents import TokenCounter


class EmbeddingError(Exception):
    """An embedder could not produce vectors and retrying will not help (bad input, auth, exhausted retries)."""


class Embedder(Protocol):
    @property
    def model_name(self) -> str:
        """Identifier stored with each chunk, so vectors of different models are never compared."""
        ...

    @property
    def dimension(self) -> int:
        """Length of every vector returned by `embed`."""
        ...

    @property
    def max_input_tokens(self) -> int:
        """How many tokens of one text the model reads; past that a text is cut short (its tail is never
        embedded) or refused. Counted as `token_counter` counts: the text's own tokens, without the markers the
        model adds around every input."""
        ...

    @property
    def token_counter(self) -> TokenCounter | None:
        """Counts tokens exactly as the model does, or None when the adapter has no copy of the model's
        tokenizer (text is then measured with an estimate)."""
        ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one L2-normalised vector per text, in the order of `texts`."""
        ...
