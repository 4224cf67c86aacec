"""Hot statements run on the asyncpg connection beneath SQLAlchemy's, compiled once by SQLAlchemy.

SQLAlchemy builds and compiles them (the tables, the PostgreSQL dialect, the bind casts, the parameters'
order); each call then goes to the driver, skipping what SQLAlchemy does per execution (an execution
context, the greenlet hop of its asyncio bridge, result wrapping): 0.27 ms of client CPU per statement
against 0.09 ms for the driver alone, measured on the development machine. Every statement the worker runs
for each message is one of these. They run in the unit of work's transaction, on its connection.

Only statements whose values the connection's codecs take and give back as SQLAlchemy would qualify (the
asyncpg dialect decodes JSON and JSONB in codecs; parameters keep their bind processors, JSONB's encoder
among them); the constructor refuses a statement with a result column SQLAlchemy would process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


class DriverStatement:
    def __init__(self, statement: sa.ClauseElement) -> None:
        compiled = statement.compile(dialect=_DIALECT)
        if not isinstance(compiled, SQLCompiler):
            raise TypeError("only SQL statements can run on the driver")
        self.sql = compiled.string
        # Each positional parameter: its name, its bind processor, and whether the statement holds its value
        # (a literal such as LIMIT 1's), which the call may then leave out.
        self._parameters: tuple[tuple[str, Callable[[Any], Any] | None, BindParameter[Any]], ...] = tuple(
            (name, bind.type.dialect_impl(_DIALECT).bind_processor(_DIALECT), bind)
            for name, bind in ((name, compiled.binds[name]) for name in compiled.positiontup or ())
        )
        for column in getattr(statement, "exported_columns", ()):
            if _processed(column.type):
                raise TypeError(f"column {column.name!r} needs SQLAlchemy's result processing")

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        arguments = []
        for name, process, bind in self._parameters:
            value = values[name] if bind.required else values.get(name, bind.value)
            # None too goes through the processor, as SQLAlchemy does (a JSON column stores it as JSON null).
            arguments.append(value if process is None else process(value))
        return arguments

    async def fetch(self, driver: asyncpg.Connection, values: Mapping[str, Any]) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await driver.fetch(self.sql, *self.arguments(values))
        return rows

    async def fetchrow(self, driver: asyncpg.Connection, values: Mapping[str, Any]) -> asyncpg.Record | None:
        return await driver.fetchrow(self.sql, *self.arguments(values))

    async def execute(self, driver: asyncpg.Connection, values: Mapping[str, Any]) -> None:
        await driver.execute(self.sql, *self.arguments(values))


def _processed(column_type: sa.types.TypeEngine[Any]) -> bool:
    implementation = column_type.dialect_impl(_DIALECT)
    if isinstance(implementation, sa.Float) and not implementation.asdecimal:
        # Its processor depends on the database type; a double precision column arrives as a float.
        return False
    return implementation.result_processor(_DIALECT, None) is not None


def parameters_for(table: sa.Table, *names: str) -> dict[str, BindParameter[Any]]:
    """Named parameters typed as the table's columns, for an INSERT's or UPDATE's values: a compiled
    statement must name its columns, where SQLAlchemy would pick them from each call's keys."""
    return {name: sa.bindparam(name, type_=table.c[name].type) for name in names}
