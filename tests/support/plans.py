"""What the database is asked: the statements code runs, and how many rows a statement reads (under EXPLAIN
ANALYZE)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from tests.support.services import asyncpg_dsn


async def rows_read(database_url: str, statement: Executable, params: dict[str, Any]) -> int:
    """The rows the statement's scans returned or filtered away, with fresh statistics: a statement that
    should find its rows by index reads a handful, one that scans reads the table."""
    compiled = statement.compile(dialect=postgresql.asyncpg.dialect())
    arguments = [params[name] for name in compiled.positiontup or ()]
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.execute("ANALYZE")
        [plan] = json.loads(await connection.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled.string}", *arguments))
    finally:
        await connection.close()
    return _scanned(plan["Plan"])


def _scanned(node: dict[str, Any]) -> int:
    own = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0) if "Scan" in node["Node Type"] else 0
    return int(own + sum(_scanned(child) for child in node.get("Plans", [])))


@contextmanager
def recorded_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements the engine runs meanwhile (BEGIN/COMMIT go to the driver directly: not in it)."""
    statements: list[str] = []

    def record(*arguments: Any) -> None:
        statements.append(arguments[2])  # (connection, cursor, statement, parameters, context, executemany)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
