"""A deterministic stand-in for an embedding model: words hashed into a normalised bag-of-words vector.

Texts sharing words are similar, texts without common words are orthogonal, which is all the retrieval
tests need to know which chunk is nearest; no model weights, instant."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence

from application.ports.embeddings import EmbeddingError

_WORD = re.compile(r"\w+")


class HashingEmbedder:
    def __init__(self, dimension: int = 384, model_name: str = "test-hashing", fail_with: str | None = None) -> None:
        self._dimension = dimension
        self._model_name = model_name
        self.fail_with = fail_with
        self.calls: list[int] = []

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_input_tokens(self) -> int:
        return 8191  # like OpenAI's models: no test document comes near it

    @property
    def token_counter(self) -> None:
        return None

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if self.fail_with is not None:
            raise EmbeddingError(self.fail_with)
        self.calls.append(len(texts))
        return [self._vector(text) for text in texts]

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self._dimension
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            vector[int.from_bytes(digest[:4], "little") % self._dimension] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(value * value for value in vector)) or 1.0
        if norm == 1.0 and not any(vector):
            vector[0] = 1.0
        return [value / norm for value in vector]
