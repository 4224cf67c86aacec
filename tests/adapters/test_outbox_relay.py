"""The relay's claim on a real Postgres: per-aggregate order across concurrent relays, nothing from
rolled-back transactions, nothing marked without a transport's confirmation, one webhook delivery per
(event, webhook)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from dishka import AsyncContainer
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.system.clock import SystemClock
from application.auth import Principal
from application.events.relay_outbox import RelayOutbox, RelayOutboxInput
from application.ports.events import OutboxFeed, OutboxKind
from application.ports.tasks import Task
from application.ports.unit_of_work import UnitOfWorkFactory
from application.tenants.create_tenant import CreateTenant, CreateTenantInput
from application.webhooks.create_webhook import CreateWebhook, CreateWebhookInput
from domain.common.ids import TenantId
from domain.events import Event
from domain.tenants.api_key import ALL_SCOPES
from domain.webhooks.delivery import RetryPolicy, WebhookDelivery
from entrypoints.ioc.containers import make_cli_container
from entrypoints.settings import Settings

ADMIN = Principal(key_id=None, tenant_id=None, scopes=ALL_SCOPES)


class RecordingPublisher:
    def __init__(self, fail: bool = False) -> None:
        self.published: list[Event] = []
        self.enqueued: list[Task] = []
        self.fail = fail

    async def publish(self, events: Sequence[Event]) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.published.extend(events)

    async def enqueue(self, tasks: Sequence[Task]) -> None:
        self.enqueued.extend(tasks)


@pytest.fixture
async def platform(settings: Settings) -> AsyncIterator[AsyncContainer]:
    container = make_cli_container(settings)
    yield container
    await container.close()


async def new_tenant(platform: AsyncContainer, name: str = "Acme") -> TenantId:
    async with platform() as request:
        view = await (await request.get(CreateTenant)).execute(CreateTenantInput(actor=ADMIN, name=name))
    return view.id


async def stage(platform: AsyncContainer, events: list[Event], *, commit: bool = True) -> None:
    uow_factory = await platform.get(UnitOfWorkFactory)
    async with uow_factory(events[0].tenant_id) as uow:
        await uow.outbox.add(events)
        if commit:
            await uow.commit()


def event(tenant_id: TenantId, aggregate: str, number: int, event_type: str = "tenant.updated") -> Event:
    return Event(type=event_type, tenant_id=tenant_id, data={"n": number}, aggregate_key=aggregate)


async def relay(platform: AsyncContainer, publisher: RecordingPublisher, kind: OutboxKind = OutboxKind.EVENT) -> int:
    relay_outbox = RelayOutbox(
        await platform.get(OutboxFeed), publisher, publisher, SystemClock(), RetryPolicy(window=timedelta(hours=1))
    )
    return (await relay_outbox.execute(RelayOutboxInput(kind=kind, limit=100))).relayed


async def drain_tenant_created(platform: AsyncContainer) -> None:
    await relay(platform, RecordingPublisher())


async def test_a_second_relay_skips_every_row_of_an_aggregate_the_first_one_holds(platform: AsyncContainer) -> None:
    tenant = await new_tenant(platform)
    await drain_tenant_created(platform)
    await stage(platform, [event(tenant, "x", 1), event(tenant, "y", 1)])
    await stage(platform, [event(tenant, "x", 2), event(tenant, "y", 2)])
    feed = await platform.get(OutboxFeed)

    async with feed.claim(OutboxKind.EVENT, 1) as first:
        assert [(e.aggregate_key, e.data["n"]) for e in first.events] == [("x", 1)]
        # It looked at no more than its limit: rows may be pending behind it, so its relay goes again.
        assert first.window_full
        async with feed.claim(OutboxKind.EVENT, 10) as second:
            # x#2 waits for x#1: publishing it now could overtake it.
            assert [(e.aggregate_key, e.data["n"]) for e in second.events] == [("y", 1), ("y", 2)]
            # It saw every pending row: the next commit's notification is what starts its next round.
            assert not second.window_full
            async with feed.claim(OutboxKind.EVENT, 10) as third:
                # Everything pending is held by the other two: nothing to take, and the relay is told so.
                assert (third.events, third.busy) == ([], True)
            await second.mark_published()
        await first.mark_published()

    async with feed.claim(OutboxKind.EVENT, 10) as fourth:
        assert [(e.aggregate_key, e.data["n"]) for e in fourth.events] == [("x", 2)]
        await fourth.mark_published()
    async with feed.claim(OutboxKind.EVENT, 10) as drained:
        assert (drained.events, drained.busy) == ([], False)


async def test_a_large_batch_of_events_is_stored_whole_and_relayed_in_the_order_given(platform: AsyncContainer) -> None:
    # Staged as one statement (a column per array): the relay sees the rows in the order given.
    tenant = await new_tenant(platform)
    await drain_tenant_created(platform)
    await stage(platform, [event(tenant, "bulk", n) for n in range(4500)])
    feed = await platform.get(OutboxFeed)
    async with feed.claim(OutboxKind.EVENT, 5000) as claim:
        assert [e.data["n"] for e in claim.events] == list(range(4500))
        await claim.mark_published()


async def test_rows_of_a_rolled_back_transaction_never_reach_the_relay(platform: AsyncContainer) -> None:
    tenant = await new_tenant(platform)
    await drain_tenant_created(platform)
    await stage(platform, [event(tenant, "x", 1)], commit=False)
    publisher = RecordingPublisher()
    assert await relay(platform, publisher) == 0
    assert publisher.published == []


async def test_nothing_is_marked_published_unless_the_transport_accepted_it(platform: AsyncContainer) -> None:
    tenant = await new_tenant(platform)
    await drain_tenant_created(platform)
    await stage(platform, [event(tenant, "x", n) for n in range(3)])
    with pytest.raises(ConnectionError):
        await relay(platform, RecordingPublisher(fail=True))
    # The failed claim's transaction is gone, with its row and aggregate locks, not left open in the pool.
    async with (await platform.get(AsyncEngine)).connect() as connection:
        held = await connection.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'),"
                " (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory')"
            )
        )
        assert tuple(held.one()) == (0, 0)
    publisher = RecordingPublisher()
    assert await relay(platform, publisher) == 3
    assert [e.data["n"] for e in publisher.published] == [0, 1, 2]
    assert await relay(platform, RecordingPublisher()) == 0


async def test_a_claim_whose_connection_died_is_discarded_and_the_next_one_relays(platform: AsyncContainer) -> None:
    tenant = await new_tenant(platform)
    await drain_tenant_created(platform)
    await stage(platform, [event(tenant, "x", n) for n in range(2)])
    feed = await platform.get(OutboxFeed)
    engine = await platform.get(AsyncEngine)

    async def claim_then_lose_the_connection() -> None:
        async with feed.claim(OutboxKind.EVENT, 10) as claim:
            assert len(claim.events) == 2
            async with engine.connect() as connection:
                await connection.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
                    )
                )
            raise ConnectionError("broker down")

    # The failure that left the claim is what surfaces, not the failed rollback on a dead connection.
    with pytest.raises(ConnectionError, match="broker down"):
        await claim_then_lose_the_connection()
    publisher = RecordingPublisher()
    assert await relay(platform, publisher) == 2
    assert [e.data["n"] for e in publisher.published] == [0, 1]


async def test_tasks_and_events_are_relayed_separately(platform: AsyncContainer) -> None:
    tenant = await new_tenant(platform)
    uow_factory = await platform.get(UnitOfWorkFactory)
    async with uow_factory(tenant) as uow:
        await uow.outbox.add_tasks([Task(name="document.index", tenant_id=tenant, payload={"d": 1}, ordering_key="k")])
        await uow.commit()
    publisher = RecordingPublisher()
    assert await relay(platform, publisher, OutboxKind.TASK) == 1
    assert [(t.name, t.payload, t.ordering_key) for t in publisher.enqueued] == [("document.index", {"d": 1}, "k")]
    assert publisher.published == []


async def test_webhook_deliveries_are_scheduled_once_per_event_and_only_for_its_tenant(
    platform: AsyncContainer,
) -> None:
    mine, theirs = await new_tenant(platform, "Mine"), await new_tenant(platform, "Theirs")
    await drain_tenant_created(platform)
    async with platform() as request:
        create = await request.get(CreateWebhook)
        everything = await create.execute(
            CreateWebhookInput(actor=ADMIN, tenant_id=mine, url="http://127.0.0.1:9/all", event_types=("*",))
        )
        channels_only = await create.execute(
            CreateWebhookInput(actor=ADMIN, tenant_id=mine, url="http://127.0.0.1:9/ch", event_types=("channel.*",))
        )
        await create.execute(
            CreateWebhookInput(actor=ADMIN, tenant_id=theirs, url="http://127.0.0.1:9/t", event_types=("*",))
        )
    updated = event(mine, "tenant", 1)
    await stage(platform, [updated, event(mine, "channel", 1, "channel.created")])
    feed = await platform.get(OutboxFeed)
    uow_factory = await platform.get(UnitOfWorkFactory)

    # A relay that dies before its mark schedules nothing: the deliveries roll back with it.
    async with feed.claim(OutboxKind.EVENT, 10) as claim:
        await claim.webhooks.add_deliveries(
            [
                WebhookDelivery.for_event(
                    tenant_id=mine,
                    webhook_id=everything.webhook.id,
                    event_id=updated.id,
                    event_type=updated.type,
                    body="{}",
                    now=datetime.now(UTC),
                    policy=RetryPolicy(),
                )
            ]
        )
    async with uow_factory(mine) as uow:
        assert (await uow.webhooks.list_deliveries(mine, everything.webhook.id, limit=10, cursor=None)).items == []

    assert await relay(platform, RecordingPublisher()) == 2
    async with uow_factory(mine) as uow:
        all_page = await uow.webhooks.list_deliveries(mine, everything.webhook.id, limit=10, cursor=None)
        channel_page = await uow.webhooks.list_deliveries(mine, channels_only.webhook.id, limit=10, cursor=None)
    assert sorted(record.delivery.event_type for record in all_page.items) == ["channel.created", "tenant.updated"]
    assert [record.delivery.event_type for record in channel_page.items] == ["channel.created"]
    async with uow_factory(theirs) as uow:
        their_hooks = await uow.webhooks.list(theirs)
        their_page = await uow.webhooks.list_deliveries(theirs, their_hooks[0].id, limit=10, cursor=None)
    assert their_page.items == []
    body = next(r.delivery.body for r in all_page.items if r.delivery.event_type == "tenant.updated")
    assert f'"id":"{updated.id}"' in body

    # Scheduling the same event again changes nothing.
    async with uow_factory(None) as uow:
        await uow.webhooks.add_deliveries([record.delivery for record in all_page.items])
        await uow.commit()
    async with uow_factory(mine) as uow:
        again = await uow.webhooks.list_deliveries(mine, everything.webhook.id, limit=10, cursor=None)
    assert len(again.items) == 2


async def test_webhook_headers_and_secret_are_encrypted_at_rest(platform: AsyncContainer) -> None:
    tenant = await new_tenant(platform)
    async with platform() as request:
        created = await (await request.get(CreateWebhook)).execute(
            CreateWebhookInput(
                actor=ADMIN,
                tenant_id=tenant,
                url="http://127.0.0.1:9/x",
                event_types=("*",),
                headers={"Authorization": "Bearer receiver-token-123"},
            )
        )
    engine = await platform.get(AsyncEngine)
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                sa.text("SELECT headers_encrypted, secret_encrypted FROM webhook_subscriptions WHERE id = :id"),
                {"id": created.webhook.id},
            )
        ).one()
    assert b"receiver-token-123" not in row.headers_encrypted
    assert created.signing_secret.encode() not in row.secret_encrypted
    uow_factory = await platform.get(UnitOfWorkFactory)
    async with uow_factory(tenant) as uow:
        stored = await uow.webhooks.get(tenant, created.webhook.id)
    assert stored is not None
    assert stored.headers == {"Authorization": "Bearer receiver-token-123"}
