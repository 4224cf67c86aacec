"""Run Alembic migrations programmatically (used by `metachat migrate`, start-up and tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def _upgrade(database_url: str, revision: str) -> None:
    command.upgrade(alembic_config(database_url), revision)


def _downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


async def upgrade(database_url: str, revision: str = "heads") -> None:
    # "heads": parallel branches of work may each add a revision on top of the same parent.
    # Alembic's env runs its own event loop, so it gets a thread of its own.
    await asyncio.to_thread(_upgrade, database_url, revision)


async def downgrade(database_url: str, revision: str = "base") -> None:
    await asyncio.to_thread(_downgrade, database_url, revision)


def execute_script(sql: str) -> None:
    """Run a multi-statement SQL script inside a migration.

    asyncpg prepares every statement SQLAlchemy sends, and a prepared statement holds one command;
    its plain `execute` takes a whole script, so migrations written as SQL go through it.
    """
    from alembic import op
    from sqlalchemy.util import await_only

    driver_connection = op.get_bind().connection.driver_connection
    if driver_connection is None:
        raise RuntimeError("migration connection is closed")
    await_only(driver_connection.execute(sql))
