"""The webhook intake's session-scoped connections: each write lands under its own tenant, and a lost
connection costs one refused write, not a wrong scope."""

from __future__ import annotations

import contextlib
import uuid

import asyncpg
import pytest

from adapters.postgres.inbox_intake import PostgresInboxIntake
from adapters.postgres.notifications import OutboxWakeups
from adapters.postgres.tenant_sessions import TenantSessions
from application.errors import ServiceUnavailable
from application.ports.tasks import Task
from domain.channels.channel import ChannelKind
from domain.channels.inbox import InboxEntry
from domain.common.ids import ChannelId, TenantId, new_id
from tests.support.api import Client, create_channel, create_tenant


@pytest.fixture
def intake(one_tenant_session: TenantSessions) -> PostgresInboxIntake:
    return PostgresInboxIntake(one_tenant_session, OutboxWakeups(relays_here=False))


async def _channel(client: Client, name: str, phone_number_id: str) -> tuple[TenantId, ChannelId]:
    tenant = await create_tenant(client, name)
    channel = await create_channel(
        client, tenant["id"], kind="whatsapp", name=name, config={"phone_number_id": phone_number_id}, secrets={}
    )
    return TenantId(uuid.UUID(tenant["id"])), ChannelId(uuid.UUID(channel["id"]))


def _entry(tenant_id: TenantId, channel_id: ChannelId, key: str) -> tuple[InboxEntry, Task]:
    entry = InboxEntry(
        id=new_id(),
        tenant_id=tenant_id,
        channel_id=channel_id,
        kind=ChannelKind.WHATSAPP,
        provider_event_key=key,
        payload={"text": "café ☕"},
        contact_id="1",
    )
    return entry, Task(name="inbox.process", tenant_id=tenant_id, payload={"inbox_id": str(entry.id)})


async def test_writes_alternating_between_tenants_land_under_each_tenant(
    client: Client, intake: PostgresInboxIntake, db: asyncpg.Connection
) -> None:
    first, second = await _channel(client, "First", "111111111111"), await _channel(client, "Second", "222222222222")
    for n, (tenant_id, channel_id) in enumerate([first, second, first, second]):
        stored = await intake.store_new(tenant_id, [_entry(tenant_id, channel_id, f"message:{n}")])
        assert len(stored) == 1
    rows = await db.fetch("SELECT provider_event_key, tenant_id, payload FROM inbox ORDER BY provider_event_key")
    assert [(row[0], row[1]) for row in rows] == [
        ("message:0", first[0]),
        ("message:1", second[0]),
        ("message:2", first[0]),
        ("message:3", second[0]),
    ]
    assert rows[0][2] == '{"text": "café ☕"}'
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE kind = 'task'") == 4


async def test_an_event_stored_before_is_not_stored_or_queued_again(
    client: Client, intake: PostgresInboxIntake, db: asyncpg.Connection
) -> None:
    tenant_id, channel_id = await _channel(client, "Only", "111111111111")
    assert len(await intake.store_new(tenant_id, [_entry(tenant_id, channel_id, "message:a")])) == 1
    again, fresh = _entry(tenant_id, channel_id, "message:a"), _entry(tenant_id, channel_id, "message:b")
    assert [entry for entry, _ in [fresh]] == await intake.store_new(tenant_id, [again, fresh])
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE kind = 'task'") == 2


async def test_after_a_lost_connection_writes_are_scoped_again(
    client: Client, intake: PostgresInboxIntake, db: asyncpg.Connection
) -> None:
    tenant_id, channel_id = await _channel(client, "Only", "111111111111")
    await intake.store_new(tenant_id, [_entry(tenant_id, channel_id, "message:before")])
    terminated = await db.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE pid <> pg_backend_pid() AND datname = current_database() AND query LIKE '%new_entries%'"
    )
    assert terminated == 1
    # The pool either notices the closed connection first, or this one write is refused on it.
    with contextlib.suppress(ServiceUnavailable):
        await intake.store_new(tenant_id, [_entry(tenant_id, channel_id, "message:during")])
    # A fresh connection gets role and tenant again before it writes (row-level security would refuse).
    assert len(await intake.store_new(tenant_id, [_entry(tenant_id, channel_id, "message:after")])) == 1
    keys = {row[0] for row in await db.fetch("SELECT provider_event_key FROM inbox")}
    assert {"message:before", "message:after"} <= keys
