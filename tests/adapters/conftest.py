"""Repositories against a fresh migrated database: an engine and the unit of work on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.crypto.aes_gcm import AesGcmSecretCipher, generate_encoded_key
from adapters.postgres.engine import make_engine
from adapters.postgres.unit_of_work import PostgresUnitOfWorkFactory


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, pool_size=4)
    yield engine
    await engine.dispose()


@pytest.fixture
def uow_factory(engine: AsyncEngine) -> PostgresUnitOfWorkFactory:
    return PostgresUnitOfWorkFactory(engine, AesGcmSecretCipher.from_encoded_key(generate_encoded_key()))
