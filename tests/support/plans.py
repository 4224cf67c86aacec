"""How much a statement reads: run it under EXPLAIN ANALYZE and count the rows its scans looked at."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from sqlalchemy.dialects import postgresql
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
