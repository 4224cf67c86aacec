from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from adapters.storage.local_files import LocalBlobStorage
from application.ports.blob_storage import BlobNotFound, InvalidBlobKey


async def test_put_get_replace_delete(tmp_path: Path) -> None:
    storage = LocalBlobStorage(tmp_path)
    stored = await storage.put("tenant-1/media/a.bin", b"\x00\x01data", "application/octet-stream")
    assert stored.size == 6
    assert stored.sha256 == hashlib.sha256(b"\x00\x01data").hexdigest()
    assert await storage.get("tenant-1/media/a.bin") == b"\x00\x01data"
    await storage.put("tenant-1/media/a.bin", b"new", "text/plain")
    assert await storage.get("tenant-1/media/a.bin") == b"new"
    await storage.delete("tenant-1/media/a.bin")
    await storage.delete("tenant-1/media/a.bin")
    with pytest.raises(BlobNotFound):
        await storage.get("tenant-1/media/a.bin")
    # Nothing but the file itself was ever left behind (no temporary files).
    assert _files(tmp_path) == []


def _files(root: Path) -> list[str]:
    return [path.name for path in root.rglob("*") if path.is_file()]


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../outside", "tenant/../../outside", "tenant//double", "tenant/./x", "tenant/a b", "t/\x00"],
)
async def test_keys_cannot_leave_the_root(tmp_path: Path, key: str) -> None:
    storage = LocalBlobStorage(tmp_path / "root")
    with pytest.raises(InvalidBlobKey):
        await storage.put(key, b"x", "text/plain")
    with pytest.raises(InvalidBlobKey):
        await storage.get(key)


async def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "tenant").mkdir(parents=True)
    (root / "tenant" / "escape").symlink_to(tmp_path)
    with pytest.raises(InvalidBlobKey):
        await LocalBlobStorage(root).put("tenant/escape/file", b"x", "text/plain")
