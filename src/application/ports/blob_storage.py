"""Port for storing files (inbound media, uploaded documents) by key."""

from __future__ import annotations

from typing import Protocol

import attrs


class BlobNotFound(Exception):
    """No file is stored under the key."""


class InvalidBlobKey(ValueError):
    """The key is empty, absolute, or tries to leave the storage root (`..`)."""


@attrs.frozen
class StoredBlob:
    key: str
    size: int
    content_type: str
    # Hex SHA-256 of the bytes, so callers can check them against what a provider announced.
    sha256: str


class BlobStorage(Protocol):
    """Keys are relative paths that start with the tenant id ("<tenant>/media/…"); writing a key again
    replaces its content."""

    async def put(self, key: str, data: bytes, content_type: str) -> StoredBlob: ...

    async def get(self, key: str) -> bytes:
        """Raises BlobNotFound."""
        ...

    async def delete(self, key: str) -> None:
        """Deleting a missing key is not an error."""
        ...
