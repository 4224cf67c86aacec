"""The built widget (widget/dist, made by `npm run build` in widget/): a stable `loader.js` that sites
embed, and content-versioned files under v/<version>/ that browsers may cache for a year."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import attrs

WIDGET_DIST_DIR = Path(__file__).resolve().parents[3] / "widget" / "dist"

# loader.js keeps its name (it is in every tenant's snippet), so caches must look again soon.
LOADER_CACHE = "public, max-age=300"
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}


@attrs.frozen
class WidgetAsset:
    body: bytes
    media_type: str
    cache_control: str
    etag: str


class WidgetAssets:
    def __init__(self, root: Path = WIDGET_DIST_DIR) -> None:
        self._root = root
        # path → (modification time, asset): files are tiny, and a rebuild is picked up without a restart.
        self._cache: dict[Path, tuple[float, WidgetAsset]] = {}

    def loader(self) -> WidgetAsset | None:
        return self._read(self._root / "loader.js", LOADER_CACHE)

    def versioned(self, version: str, name: str) -> WidgetAsset | None:
        if not _SAFE_NAME.match(version) or not _SAFE_NAME.match(name) or ".." in version or ".." in name:
            return None
        return self._read(self._root / "v" / version / name, IMMUTABLE_CACHE)

    def _read(self, path: Path, cache_control: str) -> WidgetAsset | None:
        media_type = _MEDIA_TYPES.get(path.suffix)
        if media_type is None:
            return None
        try:
            modified = path.stat().st_mtime
        except OSError:
            return None
        cached = self._cache.get(path)
        if cached is not None and cached[0] == modified:
            return cached[1]
        try:
            body = path.read_bytes()
        except OSError:
            return None
        asset = WidgetAsset(
            body=body,
            media_type=media_type,
            cache_control=cache_control,
            etag='"' + hashlib.sha256(body).hexdigest()[:20] + '"',
        )
        self._cache[path] = (modified, asset)
        return asset
