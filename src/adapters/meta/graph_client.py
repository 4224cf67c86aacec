"""HTTP access to Meta's Graph API: pooled async client, error classification by Meta error code,
exponential backoff with jitter for retryable failures, and per-sender pacing.

The client is aiohttp's: every reply costs the worker two Graph calls (typing, then the message), and
aiohttp's C-parsed requests took about a fifth of httpx's CPU per call here (150 against 810 µs).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import attrs

from application.ports.channel_adapters import FetchedMedia, MediaUnavailable
from application.ports.channel_gateway import ChannelSendError, SendFailure
from application.ports.rate_limiter import SendPacer

logger = logging.getLogger(__name__)

# Meta error codes (WhatsApp Cloud API + Messenger), see docs/channels.md for the table.
_RATE_LIMITED = frozenset({4, 17, 32, 613, 80007, 130429, 131056})
_TEMPORARY = frozenset({1, 2, 1200, 131000, 131016, 131057})
_WINDOW_CLOSED = frozenset({131047, 1545041})
_INVALID_RECIPIENT = frozenset({131026, 131030, 551})
_AUTH = frozenset({0, 3, 10, 190})
_POLICY = frozenset({368, 131031, 131048, 131049, 131050})
_MESSENGER_WINDOW_SUBCODE = 2018278
_MESSENGER_NO_USER_SUBCODE = 2018001


@attrs.frozen
class RetryPolicy:
    max_attempts: int = 4
    base_delay_seconds: float = 0.5
    max_delay_seconds: float = 8.0

    def delay(self, attempt: int, hint: float | None) -> float:
        """Exponential backoff with jitter; the provider's Retry-After is a floor."""
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * 2 ** (attempt - 1))
        jittered = random.uniform(ceiling / 2, ceiling)
        return max(jittered, hint or 0.0)


def classify(status_code: int, body: Any, retry_after: float | None) -> ChannelSendError:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        reason = (
            SendFailure.RATE_LIMITED
            if status_code == 429
            else SendFailure.TEMPORARY
            if status_code >= 500
            else SendFailure.INVALID_REQUEST
        )
        return ChannelSendError(
            reason, code=f"http_{status_code}", title="unexpected response", retry_after_seconds=retry_after
        )
    code = error.get("code")
    code = code if isinstance(code, int) else -1
    subcode = error.get("error_subcode")
    details = error.get("error_data", {}).get("details", "") if isinstance(error.get("error_data"), dict) else ""
    title = str(error.get("error_user_title") or error.get("title") or error.get("message") or "error")
    reason = _reason(code, subcode if isinstance(subcode, int) else None, status_code)
    return ChannelSendError(
        reason,
        code=str(code) if subcode is None else f"{code}/{subcode}",
        title=title,
        details=str(details),
        retry_after_seconds=retry_after,
    )


def _reason(code: int, subcode: int | None, status_code: int) -> SendFailure:
    if subcode == _MESSENGER_WINDOW_SUBCODE or code in _WINDOW_CLOSED:
        return SendFailure.WINDOW_CLOSED
    if subcode == _MESSENGER_NO_USER_SUBCODE or code in _INVALID_RECIPIENT:
        return SendFailure.INVALID_RECIPIENT
    if code in _RATE_LIMITED:
        return SendFailure.RATE_LIMITED
    if code in _TEMPORARY:
        return SendFailure.TEMPORARY
    if code in _AUTH or 200 <= code <= 299:
        return SendFailure.AUTH
    if code in _POLICY:
        return SendFailure.POLICY
    if status_code == 429:
        return SendFailure.RATE_LIMITED
    if status_code >= 500:
        return SendFailure.TEMPORARY
    return SendFailure.INVALID_REQUEST


class MediaUrlGone(MediaUnavailable):
    """The download URL answered 404/410: WhatsApp media URLs expire after five minutes."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"media URL answered {status_code}", retryable=False)


# What a request can raise besides an answer: refused or dropped connections, and timeouts.
_NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError)


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


class GraphApiClient:
    def __init__(
        self,
        base_url: str,
        version: str,
        *,
        retry: RetryPolicy | None = None,
        timeout_seconds: float = 20.0,
        pacer: SendPacer,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._root = f"{base_url.rstrip('/')}/{version.strip('/')}"
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        # Shared by every worker process when Redis is configured; one process's own otherwise.
        self._pacer = pacer
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds, connect=5.0)
        self._session: aiohttp.ClientSession | None = None

    @property
    def _client(self) -> aiohttp.ClientSession:
        # Made on first use: an aiohttp session belongs to the event loop that runs it.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                # Idle connections are dropped after 5 s (httpx's default, which this client had before):
                # reusing one the server has already closed costs a failed send and a backoff.
                connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=5.0),
                headers={"User-Agent": "metachat"},
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def url(self, path: str) -> str:
        return f"{self._root}/{path.lstrip('/')}"

    async def post(
        self,
        path: str,
        body: dict[str, Any],
        *,
        bearer: str | None = None,
        access_token: str | None = None,
        pace: tuple[str, float] | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        params = {"access_token": access_token} if access_token else None
        return await self._call("POST", self.url(path), headers=headers, params=params, body=body, pace=pace)

    async def get(self, path: str, *, bearer: str) -> dict[str, Any]:
        return await self._call("GET", self.url(path), headers={"Authorization": f"Bearer {bearer}"})

    async def _call(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        pace: tuple[str, float] | None = None,
    ) -> dict[str, Any]:
        attempt = 0
        while True:
            attempt += 1
            if pace is not None:
                wait = await self._pacer.reserve(*pace)
                if wait > 0:
                    await self._sleep(wait)
            try:
                async with self._client.request(method, url, headers=headers, params=params, json=body) as response:
                    answer = await response.read()
                    if 200 <= response.status < 300:
                        result = _parsed(answer)
                        return result if isinstance(result, dict) else {}
                    failure = classify(response.status, _parsed(answer), _retry_after(response))
            except _NETWORK_ERRORS as error:
                failure = ChannelSendError(SendFailure.TEMPORARY, code="network", title=type(error).__name__)
            hint = failure.retry_after_seconds
            # A Retry-After beyond our longest backoff is left to the caller's (task-level) retry.
            if (
                not failure.retryable
                or attempt >= self._retry.max_attempts
                or (hint is not None and hint > self._retry.max_delay_seconds)
            ):
                raise failure
            delay = self._retry.delay(attempt, hint)
            logger.warning(
                "graph api call failed, retrying",
                extra={"code": failure.code, "reason": str(failure.reason), "attempt": attempt, "delay": delay},
            )
            await self._sleep(delay)

    async def download(self, url: str, *, bearer: str | None, max_bytes: int) -> FetchedMedia:
        """Stream a file, refusing it as soon as it is larger than `max_bytes`."""
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        for attempt in range(1, self._retry.max_attempts + 1):
            try:
                return await self._download_once(url, headers, max_bytes)
            except MediaUnavailable as error:
                if not error.retryable or attempt == self._retry.max_attempts:
                    raise
            await self._sleep(self._retry.delay(attempt, None))
        raise AssertionError("unreachable")

    async def _download_once(self, url: str, headers: dict[str, str], max_bytes: int) -> FetchedMedia:
        try:
            async with self._client.get(url, headers=headers) as response:
                if response.status in (404, 410):
                    raise MediaUrlGone(response.status)
                if response.status != 200:
                    retryable = response.status == 429 or response.status >= 500
                    raise MediaUnavailable(f"media download answered {response.status}", retryable=retryable)
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                    raise MediaUnavailable(f"media is larger than {max_bytes} bytes", retryable=False)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_any():
                    size += len(chunk)
                    if size > max_bytes:
                        raise MediaUnavailable(f"media is larger than {max_bytes} bytes", retryable=False)
                    chunks.append(chunk)
                mime_type = response.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
                return FetchedMedia(data=b"".join(chunks), mime_type=mime_type.lower())
        except _NETWORK_ERRORS as error:
            raise MediaUnavailable(f"media download failed: {type(error).__name__}", retryable=True) from error
