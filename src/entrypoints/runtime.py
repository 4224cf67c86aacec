"""Start-up shared by every command: embedded services where nothing is configured, migrations,
partitions, and a clear error when something configured cannot be reached."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
from sqlalchemy.exc import DBAPIError, OperationalError

from adapters.crypto.aes_gcm import load_or_create_key_file
from adapters.postgres import migrations
from adapters.postgres.embedded import EmbeddedPostgres, start_embedded_postgres
from adapters.postgres.engine import make_engine, ping
from adapters.postgres.partitions import ensure_partitions
from entrypoints.settings import ConfigurationError, Settings

logger = logging.getLogger(__name__)


@asynccontextmanager
async def platform_runtime(settings: Settings, *, migrate: bool) -> AsyncIterator[Settings]:
    """Yield settings with every embedded default filled in; stop what was started on exit."""
    embedded: EmbeddedPostgres | None = None
    try:
        if settings.database_url is None:
            embedded = await start_embedded_postgres(settings.data_dir / "postgres")
            settings = attrs.evolve(settings, database_url=embedded.url)
            # Embedded and migrating go together: nobody else manages that database.
            migrate = True
        if settings.secret_key is None:
            if embedded is None:
                raise ConfigurationError(
                    "METACHAT_SECRET_KEY is required with an external DATABASE_URL "
                    "(generate one with `metachat secret-key`)"
                )
            settings = attrs.evolve(settings, secret_key=load_or_create_key_file(settings.data_dir / "secret.key"))
        assert settings.database_url is not None
        await check_database(settings.database_url)
        if migrate:
            await migrations.upgrade(settings.database_url)
        engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
        try:
            await ensure_partitions(engine)
        finally:
            await engine.dispose()
        yield settings
    finally:
        if embedded is not None:
            embedded.stop()


async def check_database(url: str) -> None:
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        await ping(engine)
    except (OSError, OperationalError, DBAPIError) as error:
        raise ConfigurationError(f"cannot reach the database: {type(error).__name__}: {_first_line(error)}") from error
    finally:
        await engine.dispose()


def _first_line(error: BaseException) -> str:
    return str(error.__cause__ or error).splitlines()[0] if str(error) else type(error).__name__
