"""Embeddings over the OpenAI `/v1/embeddings` protocol (OpenAI itself, or Ollama/vLLM/llama.cpp via base_url)."""

import asyncio
import base64
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import openai

from adapters.openai.retries import is_transient, retry_delay
from application.ports.embeddings import EmbeddingError

_log = logging.getLogger(__name__)

# Relative to the client's base URL, as the client's own `embeddings.create` posts it.
_EMBEDDINGS_PATH = "/embeddings"
# Input window of OpenAI's embedding models (text-embedding-3-small/-large, ada-002), in their tokens.
DEFAULT_MAX_INPUT_TOKENS = 8191


class OpenAIEmbedder:
    """Embedder for any server speaking the OpenAI embeddings protocol.

    Retries are done here, not by the openai client: the client is used with `max_retries=0`, because its
    own retries (2 by default) would multiply with ours and hide attempts from our logs. Transient failures
    (429, 408, 5xx, connection errors and timeouts) are retried `max_attempts - 1` times with exponential
    backoff and full jitter, or after the server's Retry-After when it sends one; anything else raises
    EmbeddingError at once.

    `max_input_tokens` is the served model's input window (OpenAI's models: 8191); other servers' models
    differ. No tokenizer ships here (tiktoken is not installed, and other servers' models have their own), so
    texts are measured with an estimate.
    """

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        model: str = "text-embedding-3-small",
        dimension: int = 1536,
        batch_size: int = 128,
        *,
        max_input_tokens: int = DEFAULT_MAX_INPUT_TOKENS,
        max_attempts: int = 4,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 8.0,
    ) -> None:
        if batch_size < 1 or max_attempts < 1 or max_input_tokens < 1:
            raise ValueError("batch_size, max_attempts and max_input_tokens must be at least 1")
        # with_options returns a view on the same connection pool with only the retry setting changed.
        self._client = client.with_options(max_retries=0)
        self._model = model
        self._dimension = dimension
        self._batch_size = batch_size
        self._max_input_tokens = max_input_tokens
        self._max_attempts = max_attempts
        self._retry_base_delay = retry_base_delay
        self._retry_max_delay = retry_max_delay

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_input_tokens(self) -> int:
        return self._max_input_tokens

    @property
    def token_counter(self) -> None:
        return None

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        # Sequential batches: the provider's rate limit, not our concurrency, bounds the throughput.
        for start in range(0, len(texts), self._batch_size):
            vectors.extend(await self._embed_batch(texts[start : start + self._batch_size]))
        return vectors

    async def _embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        for attempt in range(1, self._max_attempts + 1):
            try:
                # The client's own request path (base URL, auth, timeout, status errors), without its typed
                # `create`, which runs the arguments through its TypedDict transform and builds a model object
                # per vector: the answer is read from its JSON here.
                response: object = await self._client.post(
                    _EMBEDDINGS_PATH,
                    body={
                        "input": list(texts),
                        "model": self._model,
                        # Packed float32: a quarter of the bytes of the float JSON, and no Python float object
                        # per number while the response is parsed; a compatible server that ignores the field
                        # answers floats.
                        "encoding_format": "base64",
                    },
                    cast_to=object,
                )
            except (openai.APIConnectionError, openai.APIStatusError) as error:
                if not is_transient(error):
                    raise EmbeddingError(f"embedding request to {self._model} failed: {error}") from error
                if attempt == self._max_attempts:
                    raise EmbeddingError(
                        f"embedding request to {self._model} still failing after {attempt} attempts: {error}"
                    ) from error
                delay = self._retry_delay(attempt, error)
                _log.warning(
                    "embedding request failed (attempt %d/%d), retrying in %.2fs: %s",
                    attempt,
                    self._max_attempts,
                    delay,
                    error,
                )
                await asyncio.sleep(delay)
            else:
                return self._normalised_in_input_order(response, len(texts))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _retry_delay(self, attempt: int, error: openai.APIError) -> float:
        return retry_delay(error, attempt, base_delay=self._retry_base_delay, max_delay=self._retry_max_delay)

    def _normalised_in_input_order(self, response: object, expected: int) -> list[list[float]]:
        try:
            items: list[dict[str, Any]] = response["data"]  # type: ignore[index]
            if len(items) != expected:
                raise EmbeddingError(f"{self._model} returned {len(items)} embeddings for {expected} inputs")
            ordered = sorted(items, key=lambda item: int(item["index"]))
            if [item["index"] for item in ordered] != list(range(expected)):
                raise EmbeddingError(f"{self._model} returned embedding indices that do not match the inputs")
            embeddings = [item["embedding"] for item in ordered]
        except (KeyError, TypeError, ValueError) as error:  # not the embeddings response shape
            raise EmbeddingError(f"{self._model} returned a malformed response: {error!r}") from error
        try:
            matrix = np.array([_decoded(embedding) for embedding in embeddings], dtype=np.float64)
        except ValueError as error:  # ragged rows, or base64 that is not whole float32 values
            raise EmbeddingError(f"{self._model} returned malformed or ragged vectors") from error
        if matrix.shape[1] != self._dimension:
            raise EmbeddingError(
                f"{self._model} returned {matrix.shape[1]}-d vectors, configured dimension is {self._dimension}"
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        if not np.all(norms > 0):
            raise EmbeddingError(f"{self._model} returned a zero vector, which has no direction to compare")
        return (matrix / norms).tolist()  # type: ignore[no-any-return]


def _decoded(embedding: list[float] | str) -> npt.NDArray[np.float32] | list[float]:
    if isinstance(embedding, str):
        return np.frombuffer(base64.b64decode(embedding), dtype="<f4")
    return embedding
