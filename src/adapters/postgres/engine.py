"""Engine creation and the translation of connection failures into application errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

# Role every application transaction switches to, so row-level security applies even when the
# connection itself logs in as a superuser or the tables' owner (those bypass RLS).
APP_ROLE = "metachat_app"

# What asyncpg raises on a connection that is gone (InternalClientError: closed by the server while idle).
CONNECTION_ERRORS = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.InternalClientError)


def to_asyncpg_url(url: str) -> str:
    """Accept the plain postgres:// URLs people paste and give SQLAlchemy its asyncpg dialect."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must start with postgresql:// (or postgres://)")


def to_driver_dsn(url: str) -> str:
    """The same URL for asyncpg itself (the pools and listeners that bypass SQLAlchemy)."""
    return "postgresql://" + to_asyncpg_url(url)[len("postgresql+asyncpg://") :]


DEFAULT_POOL_SIZE = 10


def make_engine(
    url: str,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    max_overflow: int = 20,
    session_settings: Mapping[str, str] | None = None,
) -> AsyncEngine:
    """`session_settings`: settings every connection starts its session with."""
    return create_async_engine(
        to_asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        # No pre-ping: it is a round trip on every checkout, and every transaction checks a connection
        # out. A connection the server dropped fails its first statement instead; SQLAlchemy then
        # discards it, and the caller's error handling (ServiceUnavailable → retry or 503) takes over.
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args={"server_settings": dict(session_settings or {})},
    )


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(sa.text("SELECT 1"))


async def roll_back_or_discard(connection: AsyncConnection, driver: Any) -> None:
    """Ends a transaction begun on the driver and not committed. The pool would not roll back a
    transaction it did not begin, so a connection that cannot roll back is discarded rather than reused."""
    try:
        if driver.is_closed():
            await connection.invalidate()
        elif driver.is_in_transaction():
            await driver.execute("ROLLBACK")
    except (*CONNECTION_ERRORS, asyncpg.PostgresError):
        await connection.invalidate()
    except BaseException:
        # Cancelled while rolling back: whether the transaction ended is unknown.
        await connection.invalidate()
        raise
