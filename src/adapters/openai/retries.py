"""When a failed call to an OpenAI-protocol server is worth repeating, and how long to wait first: the
chat model and the embedder retry alike (the client's own retries are off, so these are the only ones)."""

from __future__ import annotations

import random

import openai

# As the openai client itself retries: request timeout, lock conflict, rate limit, and every 5xx.
_RETRYABLE_STATUSES = frozenset({408, 409, 429})
# A server asking for a longer pause than this is treated as a failed attempt's backoff, not obeyed.
_MAX_RETRY_AFTER_SECONDS = 30.0


def is_transient(error: openai.APIError) -> bool:
    if isinstance(error, openai.APIConnectionError):  # includes timeouts
        return True
    if isinstance(error, openai.APIStatusError):
        return error.status_code in _RETRYABLE_STATUSES or error.status_code >= 500
    return False


def retry_delay(error: openai.APIError, attempt: int, *, base_delay: float, max_delay: float) -> float:
    """The server's Retry-After when it gives a usable one, else exponential backoff with full jitter
    (clients that failed together do not retry together)."""
    retry_after = _retry_after_seconds(error)
    if retry_after is not None and retry_after <= _MAX_RETRY_AFTER_SECONDS:
        return retry_after
    return random.uniform(0, min(max_delay, base_delay * 2 ** (attempt - 1)))


def _retry_after_seconds(error: openai.APIError) -> float | None:
    if not isinstance(error, openai.APIStatusError):
        return None
    value = error.response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:  # the HTTP-date form: fall back to our own backoff
        return None
    return seconds if seconds >= 0 else None
