"""Row-level security is a second wall: even raw SQL inside a tenant's unit of work sees only that tenant."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg
import pytest
import sqlalchemy as sa
from dishka import AsyncContainer
from sqlalchemy.exc import DBAPIError

from adapters.crypto.aes_gcm import AesGcmSecretCipher, generate_encoded_key
from adapters.postgres.engine import make_engine
from adapters.postgres.notifications import OutboxWakeups
from adapters.postgres.unit_of_work import PostgresUnitOfWork, PostgresUnitOfWorkFactory
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import TenantId
from tests.support.api import Client, create_channel, create_tenant

SECRET_TOKEN = "EAAGtopSecretAccessToken0123456789"


async def _two_tenants_with_channels(client: Client) -> tuple[str, str]:
    first = await create_tenant(client, "First")
    second = await create_tenant(client, "Second")
    for tenant, number in ((first, "111111"), (second, "222222")):
        await create_channel(
            client,
            tenant["id"],
            kind="whatsapp",
            name="wa",
            config={"phone_number_id": number},
            secrets={"access_token": SECRET_TOKEN},
        )
    return first["id"], second["id"]


async def _uow(container: AsyncContainer, tenant_id: str | None) -> PostgresUnitOfWork:
    factory = await container.get(UnitOfWorkFactory)
    uow = factory(None if tenant_id is None else TenantId(uuid.UUID(tenant_id)))
    assert isinstance(uow, PostgresUnitOfWork)
    return uow


async def test_raw_queries_in_a_tenant_transaction_see_only_that_tenant(
    client: Client, container: AsyncContainer
) -> None:
    first, second = await _two_tenants_with_channels(client)
    async with await _uow(container, first) as uow:
        rows = (await uow.connection.execute(sa.text("SELECT tenant_id::text FROM channels"))).scalars().all()
        tenants = (await uow.connection.execute(sa.text("SELECT id::text FROM tenants"))).scalars().all()
        routes = (await uow.connection.execute(sa.text("SELECT count(*) FROM channel_routes"))).scalar_one()
    assert rows == [first]
    assert tenants == [first]
    # The routing directory is platform-wide on purpose (webhooks arrive before the tenant is known).
    assert routes == 2

    async with await _uow(container, None) as uow:
        everyone = (await uow.connection.execute(sa.text("SELECT tenant_id::text FROM channels"))).scalars().all()
    assert sorted(everyone) == sorted([first, second])


async def test_a_tenant_transaction_cannot_write_rows_of_another_tenant(
    client: Client, container: AsyncContainer
) -> None:
    first, second = await _two_tenants_with_channels(client)
    async with await _uow(container, first) as uow:
        with pytest.raises(DBAPIError, match="row-level security"):
            await uow.connection.execute(
                sa.text(
                    "INSERT INTO outbox (tenant_id, id, aggregate_key, type, payload)"
                    " VALUES (:tenant, gen_random_uuid(), 'x', 'x', '{}')"
                ),
                {"tenant": second},
            )
    async with await _uow(container, first) as uow:
        changed = await uow.connection.execute(sa.text("UPDATE channels SET name = 'hijacked'"))
        assert changed.rowcount == 1
    async with await _uow(container, second) as uow:
        names = (await uow.connection.execute(sa.text("SELECT name FROM channels"))).scalars().all()
    assert names == ["wa"]


async def test_channel_secrets_are_encrypted_at_rest(client: Client, database_url: str) -> None:
    await _two_tenants_with_channels(client)
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT secrets_encrypted, config::text AS config FROM channels")
        keys = await connection.fetch("SELECT secret_hash FROM api_keys")
    finally:
        await connection.close()
    assert len(rows) == 2
    for row in rows:
        assert SECRET_TOKEN.encode() not in bytes(row["secrets_encrypted"])
        assert SECRET_TOKEN not in row["config"]
    for row in keys:
        assert bytes(row["secret_hash"]).startswith(b"scrypt$")


async def test_a_unit_of_work_left_without_commit_hands_its_connection_back_clean(
    client: Client, database_url: str
) -> None:
    first, _ = await _two_tenants_with_channels(client)
    # One pooled connection: the second unit of work gets the very connection the first one used.
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    factory = PostgresUnitOfWorkFactory(
        engine, AesGcmSecretCipher.from_encoded_key(generate_encoded_key()), OutboxWakeups(relays_here=False)
    )
    try:
        async with factory(TenantId(uuid.UUID(first))) as uow:
            await uow.connection.execute(sa.text("UPDATE channels SET name = 'uncommitted'"))
        async with factory(None) as uow:
            names = (await uow.connection.execute(sa.text("SELECT name FROM channels"))).scalars().all()
            scope = (await uow.connection.execute(sa.text("SELECT current_setting('app.tenant_id')"))).scalar_one()
            await uow.commit()
        async with factory(TenantId(uuid.UUID(first))) as uow:
            await uow.connection.execute(sa.text("UPDATE channels SET name = 'committed'"))
            await uow.commit()
        async with factory(None) as uow:
            after_commit = (await uow.connection.execute(sa.text("SELECT name FROM channels"))).scalars().all()
    finally:
        await engine.dispose()
    assert names == ["wa", "wa"]
    assert scope == ""
    assert sorted(after_commit) == ["committed", "wa"]


async def test_a_unit_of_work_cancelled_at_any_point_hands_its_connection_back(database_url: str) -> None:
    """A web chat socket closing cancels its reads wherever they are: opening, querying, rolling back."""
    engine = make_engine(database_url, pool_size=2, max_overflow=0)
    factory = PostgresUnitOfWorkFactory(
        engine, AesGcmSecretCipher.from_encoded_key(generate_encoded_key()), OutboxWakeups(relays_here=False)
    )

    async def read() -> None:
        async with factory(None) as uow:
            await uow.connection.execute(sa.text("SELECT pg_sleep(0.01)"))

    try:
        # Each round cancels one step later (once more while the first cancellation is being handled),
        # sweeping the cancellation across connect, BEGIN, the query and the rollback.
        for steps in range(40):
            task = asyncio.create_task(read())
            for _ in range(steps):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert engine.pool.checkedout() == 0, f"a connection was kept after a cancellation at step {steps}"  # type: ignore[attr-defined]
        async with factory(None) as uow:
            assert (await uow.connection.execute(sa.text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()
