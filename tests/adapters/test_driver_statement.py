"""DriverStatement: a SQLAlchemy statement compiled once and run on the driver gives what SQLAlchemy would."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.driver_statement import DriverStatement, parameters_for
from adapters.postgres.tables import api_keys, tenants

_INSERT = DriverStatement(tenants.insert().values(parameters_for(tenants, "id", "name", "settings")))
_LATEST = DriverStatement(
    sa.select(tenants.c.name, tenants.c.settings)
    .where(tenants.c.id == sa.bindparam("b_id"))
    .order_by(tenants.c.created_at.desc())
    .limit(1)
)


async def test_values_go_in_and_come_back_as_sqlalchemy_gives_them(engine: AsyncEngine) -> None:
    tenant_id = uuid.uuid4()
    settings = {"language": "de", "nested": {"emoji": "👋", "list": [1, None]}}
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        # JSONB goes through its bind processor (serialised), and comes back decoded by the connection's codec.
        await _INSERT.execute(driver, {"id": tenant_id, "name": "Acme", "settings": settings})
        # LIMIT 1 is a literal of the statement: the call need not name it.
        row = await _LATEST.fetchrow(driver, {"b_id": tenant_id})
        through_sqlalchemy = (
            await connection.execute(sa.select(tenants.c.name, tenants.c.settings).where(tenants.c.id == tenant_id))
        ).one()
        await connection.rollback()
    assert row is not None
    assert (row["name"], row["settings"]) == tuple(through_sqlalchemy) == ("Acme", settings)


def test_a_parameter_the_call_leaves_out_is_an_error_not_a_null() -> None:
    with pytest.raises(KeyError, match="settings"):
        _INSERT.arguments({"id": "x", "name": "Acme"})


def test_a_result_column_sqlalchemy_would_convert_is_refused() -> None:
    # asyncpg gives arrays as lists; SQLAlchemy's ARRAY type post-processes them.
    with pytest.raises(TypeError, match="scopes"):
        DriverStatement(sa.select(api_keys.c.scopes))


def test_none_goes_through_the_bind_processor_as_with_sqlalchemy() -> None:
    # SQLAlchemy stores None in a JSON column as JSON null, not SQL NULL; so must the driver path.
    assert _INSERT.arguments({"id": "x", "name": "Acme", "settings": None})[2] == "null"
