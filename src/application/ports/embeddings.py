"""Port for turning texts into vectors for semantic search."""

from collections.abc import Sequence
from typing import Protocol


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

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one L2-normalised vector per text, in the order of `texts`."""
        ...
