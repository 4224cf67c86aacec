"""Group commit of webhook acknowledgements and the cached channel directory, on real Postgres."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable

import asyncpg
import attrs
import pytest
from dishka import AsyncContainer

from application.inbox.accept_webhook import AcceptWebhook, AcceptWebhookInput
from application.inbox.channel_directory import ChannelDirectory
from application.inbox.inbox_writer import InboxWriter
from application.ports.tasks import Task
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from domain.channels.channel import ChannelKind
from domain.channels.inbox import InboxEntry
from domain.common.ids import ChannelId, TenantId, new_id
from entrypoints.settings import MetaSettings, Settings
from tests.support.api import Client, create_channel, create_tenant
from tests.support.meta import PHONE_NUMBER_ID, meta_json, signature, wa_message, wa_value, wa_webhook

APP_SECRET = "platform-app-secret"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return attrs.evolve(settings, meta=MetaSettings(app_secret=APP_SECRET))


async def test_concurrent_acknowledgements_store_each_event_once(
    client: Client, container: AsyncContainer, db: asyncpg.Connection
) -> None:
    tenant = await create_tenant(client)
    await create_channel(client, tenant["id"], kind="whatsapp", name="S", config={"phone_number_id": PHONE_NUMBER_ID})
    accept = await container.get(AcceptWebhook)
    bodies = [
        meta_json(wa_webhook(wa_value(messages=[wa_message("text", {"body": str(n)}, wamid=f"w{n}")])))
        for n in range(40)
    ]
    # Ten of them arrive twice at the same moment, as Meta's redeliveries to several subscribed apps do.
    posts = bodies + bodies[:10]
    results = await asyncio.gather(
        *(accept.execute(AcceptWebhookInput(ChannelKind.WHATSAPP, body, signature(body, APP_SECRET))) for body in posts)
    )
    assert sum(result.accepted for result in results) == 40
    assert sum(result.duplicates for result in results) == 10
    assert await db.fetchval("SELECT count(DISTINCT provider_event_key) FROM inbox") == 40
    assert await db.fetchval("SELECT count(*) FROM inbox") == 40
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE type = 'inbox.process'") == 40
    # Fewer transactions than requests: concurrent requests shared commits.
    assert await db.fetchval("SELECT count(DISTINCT xmin::text) FROM inbox") < 40


async def test_a_failing_request_does_not_fail_the_others_in_its_batch(
    client: Client, container: AsyncContainer, db: asyncpg.Connection
) -> None:
    tenant = await create_tenant(client)
    channel = await create_channel(
        client, tenant["id"], kind="whatsapp", name="S", config={"phone_number_id": PHONE_NUMBER_ID}
    )
    tenant_id = TenantId(uuid.UUID(tenant["id"]))
    writer = await container.get(InboxWriter)

    def entry(channel_id: uuid.UUID, key: str) -> InboxEntry:
        return InboxEntry(
            id=new_id(),
            tenant_id=tenant_id,
            channel_id=ChannelId(channel_id),
            kind=ChannelKind.WHATSAPP,
            provider_event_key=key,
            payload={},
            contact_id="1",
        )

    good = [writer.store(tenant_id, [entry(uuid.UUID(channel["id"]), f"message:{n}")]) for n in range(5)]
    deleted_channel = writer.store(tenant_id, [entry(uuid.uuid4(), "message:orphan")])
    results = await asyncio.gather(*good, deleted_channel, return_exceptions=True)
    assert [len(result) for result in results[:5] if isinstance(result, list)] == [1] * 5
    assert isinstance(results[5], Exception)
    assert await db.fetchval("SELECT count(*) FROM inbox") == 5


async def test_concurrent_lookups_of_an_expired_route_share_one_query(
    container: AsyncContainer, client: Client
) -> None:
    tenant = await create_tenant(client)
    await create_channel(client, tenant["id"], kind="whatsapp", name="S", config={"phone_number_id": PHONE_NUMBER_ID})
    counting = CountingUowFactory(await container.get(UnitOfWorkFactory))
    directory = ChannelDirectory(counting)
    routes = await asyncio.gather(*(directory.route(ChannelKind.WHATSAPP, PHONE_NUMBER_ID) for _ in range(20)))
    assert {route.tenant_id if route else None for route in routes} == {uuid.UUID(tenant["id"])}
    assert counting.opened == 1
    assert await directory.route(ChannelKind.WHATSAPP, "404040404040") is None
    assert await directory.route(ChannelKind.WHATSAPP, "404040404040") is None
    assert counting.opened == 2


class CountingUowFactory:
    def __init__(self, inner: UnitOfWorkFactory) -> None:
        self._inner = inner
        self.opened = 0

    def __call__(self, tenant_id: TenantId | None) -> UnitOfWork:
        self.opened += 1
        return self._inner(tenant_id)


class HeldIntake:
    """An InboxIntake whose transactions last until the test lets them commit."""

    def __init__(self) -> None:
        self.transactions: list[list[str]] = []
        self.commit = asyncio.Event()

    async def store_new(self, tenant_id: TenantId, entries: list[tuple[InboxEntry, Task]]) -> list[InboxEntry]:
        self.transactions.append([entry.provider_event_key for entry, _ in entries])
        await self.commit.wait()
        return [entry for entry, _ in entries]


async def test_two_transactions_of_a_tenant_are_in_flight_and_later_requests_share_the_next() -> None:
    intake = HeldIntake()
    writer = InboxWriter(intake)
    tenant_id = TenantId(new_id())

    def request(key: str) -> Awaitable[list[InboxEntry]]:
        entry = InboxEntry(
            id=new_id(),
            tenant_id=tenant_id,
            channel_id=ChannelId(new_id()),
            kind=ChannelKind.WHATSAPP,
            provider_event_key=key,
            payload={},
            contact_id="1",
        )
        return writer.store(tenant_id, [entry])

    stores = [asyncio.ensure_future(request(f"message:{n}")) for n in range(10)]
    for _ in range(10):
        await asyncio.sleep(0)
    # The first two requests each opened a transaction; the other eight wait for one to commit.
    assert intake.transactions == [["message:0"], ["message:1"]]
    intake.commit.set()
    stored = await asyncio.gather(*stores)
    assert intake.transactions[2] == [f"message:{n}" for n in range(2, 10)]
    assert len(intake.transactions) == 3
    assert [len(entries) for entries in stored] == [1] * 10
