"""BlobStorage on the local file system (Settings.files_dir): one file per key, written atomically."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from pathlib import Path

from application.ports.blob_storage import BlobNotFound, InvalidBlobKey, StoredBlob

_SEGMENT = re.compile(r"^[A-Za-z0-9._@=+-]{1,200}$")


class LocalBlobStorage:
    """The content type is not kept beside the file: callers record it with the key (message content,
    document row), which is where they read it back from."""

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    async def put(self, key: str, data: bytes, content_type: str) -> StoredBlob:
        path = self._path(key)
        await asyncio.to_thread(_write_atomically, path, data)
        return StoredBlob(key=key, size=len(data), content_type=content_type, sha256=hashlib.sha256(data).hexdigest())

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as error:
            raise BlobNotFound(key) from error

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)

    def _path(self, key: str) -> Path:
        segments = key.split("/")
        # Every segment is checked by itself: no "..", no empty parts, no absolute paths, no odd bytes.
        if not key or any(not _SEGMENT.match(part) or part in (".", "..") for part in segments):
            raise InvalidBlobKey(f"invalid storage key: {key!r}")
        path = self._root.joinpath(*segments)
        if not path.resolve().is_relative_to(self._root):
            raise InvalidBlobKey(f"invalid storage key: {key!r}")
        return path


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temporary file beside the target and rename: readers never see half a file.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
