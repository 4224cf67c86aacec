"""Port for fetching a web page a tenant wants in its knowledge base."""

from __future__ import annotations

from typing import Protocol

import attrs


@attrs.frozen
class FetchedPage:
    # Where the content came from after redirects.
    url: str
    content: bytes
    content_type: str | None


class WebPageFetcher(Protocol):
    async def fetch(self, url: str, max_bytes: int) -> FetchedPage:
        """GET the page. Raises InvalidInput when the URL is unusable, refused (a private address) or the
        server cannot be reached or answers with an error, and PayloadTooLarge beyond `max_bytes`."""
        ...
