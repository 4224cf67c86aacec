"""What the database is asked: the statements code runs, and how many rows a statement reads (under EXPLAIN
ANALYZE)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from adapters.postgres.driver_statement import DriverStatement
from tests.support.services import asyncpg_dsn


async def rows_read(database_url: str, statement: Executable | DriverStatement, params: dict[str, Any]) -> int:
    """The rows the statement's scans returned or filtered away, with fresh statistics: a statement that
    should find its rows by index reads a handful, one that scans reads the table."""
    if isinstance(statement, DriverStatement):
        sql, arguments = statement.sql, statement.arguments(params)
    else:
        compiled = statement.compile(dialect=postgresql.asyncpg.dialect())
        sql, arguments = compiled.string, [params[name] for name in compiled.positiontup or ()]
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.execute("ANALYZE")
        [plan] = json.loads(await connection.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *arguments))
    finally:
        await connection.close()
    return _scanned(plan["Plan"])


def _scanned(node: dict[str, Any]) -> int:
    own = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0) if "Scan" in node["Node Type"] else 0
    return int(own + sum(_scanned(child) for child in node.get("Plans", [])))


@contextmanager
def recorded_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements run meanwhile through SQLAlchemy, or straight on the driver by connections checked
    out of the engine's pool meanwhile (the hot statements, see driver_statement); transaction control
    (BEGIN with its settings, COMMIT, ROLLBACK) is left out."""
    statements: list[str] = []
    drivers: list[asyncpg.Connection] = []

    def record(*arguments: Any) -> None:
        statements.append(arguments[2])  # (connection, cursor, statement, parameters, context, executemany)

    def record_driver(query: asyncpg.connection.LoggedQuery) -> None:
        if not query.query.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(query.query)

    def watch(dbapi_connection: Any, *_: Any) -> None:
        driver = dbapi_connection.driver_connection
        driver.add_query_logger(record_driver)
        drivers.append(driver)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    event.listen(engine.sync_engine.pool, "checkout", watch)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
        event.remove(engine.sync_engine.pool, "checkout", watch)
        for driver in drivers:
            driver.remove_query_logger(record_driver)


STAGED_OUTBOX = "WITH staged_outbox AS ("
_STAGED = re.compile(r"\s*,?\s*staged_\w+ AS \(")


def without_staged_outbox(statement: str) -> str:
    """The statement as its repository wrote it, without the deferred writes it carries (staged outbox rows and
    others, see TransactionDriver), or unchanged when it carries none."""
    if not statement.startswith("WITH staged_"):
        return statement
    rest = statement[len("WITH") :]
    while (head := _STAGED.match(rest)) is not None:
        depth = 1
        for index in range(head.end(), len(rest)):
            depth += {"(": 1, ")": -1}.get(rest[index], 0)
            if depth == 0:
                rest = rest[index + 1 :]
                break
        else:
            raise ValueError("unbalanced deferred write")
    rest = rest.lstrip()
    return "WITH " + rest[1:].lstrip() if rest.startswith(",") else rest
