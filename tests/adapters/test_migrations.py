"""Migrations go up from an empty database, down to nothing, and up again."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from adapters.postgres import migrations


async def _tables(url: str) -> set[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        extension = await connection.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    finally:
        await connection.close()
    return {row["tablename"] for row in rows} | ({"<vector>"} if extension else set())


async def test_upgrade_downgrade_upgrade_from_empty(postgres_admin_url: str) -> None:
    name = f"metachat_stairway_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(postgres_admin_url)._replace(path="/" + name))
    try:
        await migrations.upgrade(url)
        created = await _tables(url)
        assert {"tenants", "channels", "api_keys", "messages", "api_logs", "outbox", "<vector>"} <= created
        # Monthly partitions exist for the current month onwards.
        assert any(table.startswith("messages_p") for table in created)

        await migrations.downgrade(url)
        assert await _tables(url) <= {"<vector>"}

        await migrations.upgrade(url)
        assert await _tables(url) == created
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_partitions_are_created_ahead(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        created = await connection.fetchval("SELECT metachat_ensure_monthly_partitions('messages', 4)")
        again = await connection.fetchval("SELECT metachat_ensure_monthly_partitions('messages', 4)")
        partitions = await connection.fetch(
            "SELECT relname FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid"
            " WHERE i.inhparent = 'messages'::regclass ORDER BY relname"
        )
    finally:
        await connection.close()
    assert created == 2  # the template already had this month and the next two
    assert again == 0
    assert len([row for row in partitions if row["relname"].startswith("messages_p")]) == 5
