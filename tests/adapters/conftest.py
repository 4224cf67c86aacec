"""Repositories against a fresh migrated database: an engine and the unit of work on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.crypto.aes_gcm import AesGcmSecretCipher, generate_encoded_key
from adapters.postgres.engine import make_engine
from adapters.postgres.notifications import OutboxWakeups
from adapters.postgres.tenant_sessions import TenantSessions
from adapters.postgres.unit_of_work import PostgresUnitOfWorkFactory


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, pool_size=4)
    yield engine
    await engine.dispose()


@pytest.fixture
def uow_factory(engine: AsyncEngine) -> PostgresUnitOfWorkFactory:
    return PostgresUnitOfWorkFactory(
        engine, AesGcmSecretCipher.from_encoded_key(generate_encoded_key()), OutboxWakeups(relays_here=False)
    )


@pytest.fixture
async def one_tenant_session(database_url: str) -> AsyncIterator[TenantSessions]:
    """Tenant-scoped sessions on one connection: every write reuses the session the previous one left
    behind, scoped to whichever tenant wrote last."""
    sessions = TenantSessions(database_url, max_connections=1)
    await sessions.start()
    yield sessions
    await sessions.close()
