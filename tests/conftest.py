"""Shared fixtures: real Postgres (+pgvector), Redis and RabbitMQ; one fresh database per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import attrs
import httpx
import pytest
from dishka import AsyncContainer
from litestar import Litestar

from adapters.crypto.aes_gcm import generate_encoded_key
from adapters.postgres import migrations
from entrypoints.http.app import create_app
from entrypoints.ioc.containers import make_http_container
from entrypoints.settings import HttpSettings, Settings
from tests.fakes.graph_api import FakeGraphApi
from tests.support.services import asyncpg_dsn, postgres_server, service_url

ADMIN_KEY = "test-admin-key-" + uuid.uuid4().hex


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with postgres_server(Path(tmp_path_factory.mktemp("postgres"))) as url:
        yield url


async def _admin_execute(admin_url: str, statement: str) -> None:
    # A fresh connection each time: tests restart brokers and kill processes, and a session-long
    # connection would be a needless casualty.
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def template_database(postgres_admin_url: str) -> AsyncIterator[str]:
    """Migrated once per session; each test clones it (CREATE DATABASE … TEMPLATE)."""
    name = f"metachat_template_{uuid.uuid4().hex[:8]}"
    await _admin_execute(postgres_admin_url, f'CREATE DATABASE "{name}"')
    await migrations.upgrade(_with_database(postgres_admin_url, name))
    yield name
    await _admin_execute(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def database_url(postgres_admin_url: str, template_database: str) -> AsyncIterator[str]:
    name = f"metachat_test_{uuid.uuid4().hex[:12]}"
    await _admin_execute(postgres_admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield _with_database(postgres_admin_url, name)
    await _admin_execute(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection to the test's database, for looking at rows as the code under test left them."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    yield connection
    await connection.close()


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraphApi]:
    """A fake Meta Graph API on a loopback port; tests that need Meta point their settings at it."""
    async with FakeGraphApi() as server:
        yield server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with service_url("TEST_REDIS_URL", "redis:7", "redis://127.0.0.1:6379/0") as url:
        yield url


@pytest.fixture(scope="session")
def rabbitmq_url() -> Iterator[str]:
    with service_url("TEST_RABBITMQ_URL", "rabbitmq:3-management", "amqp://guest:guest@127.0.0.1:5672/") as url:
        yield url


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        redis_url=redis_url,
        secret_key=generate_encoded_key(),
        admin_api_key=ADMIN_KEY,
        http=HttpSettings(max_body_bytes=64 * 1024),
        allow_private_webhook_urls=True,
    )


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[AsyncContainer]:
    container = make_http_container(settings)
    yield container
    await container.close()


@pytest.fixture
def app(container: AsyncContainer, settings: Settings) -> Litestar:
    return create_app(container, settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client that runs the app in the test's own event loop (Litestar's AsyncTestClient runs it
    in a separate thread and loop, which would split the container's connection pools between loops)."""
    # Lifespan hooks are called directly: anyio's task group in Litestar's lifespan cannot span the
    # separate tasks pytest-asyncio uses for fixture set-up and tear-down.
    for hook in app.on_startup:
        await hook()  # type: ignore[call-arg]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 50000)),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as test_client:
        yield test_client
    for hook in app.on_shutdown:
        await hook()  # type: ignore[call-arg]


def with_settings(settings: Settings, **changes: object) -> Settings:
    return attrs.evolve(settings, **changes)
