"""Where the tests' real services come from: TEST_*_URL when set, else testcontainers (a laptop with
Docker), else — for Postgres — an embedded pgserver (PostgreSQL 18 + pgvector) in a temp folder."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit


def asyncpg_dsn(database_url: str) -> str:
    """The SQLAlchemy URL of a database as asyncpg's own connect() takes it."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    with suppress(OSError, subprocess.SubprocessError):
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    return False


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    with (
        suppress(OSError),
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=1),
    ):
        return True
    return False


@contextmanager
def postgres_server(tmp_root: Path) -> Iterator[str]:
    """Yield an admin URL (database `postgres`) of a server with pgvector available."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
        return
    if _docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("pgvector/pgvector:pg17", driver=None) as container:
            yield container.get_connection_url()
        return
    import pgserver

    data_dir = tmp_root / "pg"
    server = pgserver.get_server(data_dir, cleanup_mode="delete")
    # A throwaway test server: durability costs time and buys nothing here.
    server.psql(
        "ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off;"
        " ALTER SYSTEM SET full_page_writes = off;"
    )
    server.psql("SELECT pg_reload_conf();")
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()


@contextmanager
def service_url(env_name: str, image: str, local_default: str) -> Iterator[str]:
    if url := os.environ.get(env_name):
        yield url
        return
    if _docker_available():
        if "rabbitmq" in image:
            from testcontainers.rabbitmq import RabbitMqContainer

            with RabbitMqContainer(image) as rabbit:
                params = rabbit.get_connection_params()
                yield f"amqp://guest:guest@{params.host}:{params.port}/"
            return
        from testcontainers.redis import RedisContainer

        with RedisContainer(image) as redis:
            yield f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"
        return
    if reachable(local_default):
        yield local_default
        return
    raise RuntimeError(f"{env_name} is not set, Docker is not available and nothing answers at {local_default}")
