"""PostgresInboxRepository.others_pending: does the contact have other events waiting? Asked before every
answer, so it must read only that contact's pending entries, never every pending entry of the platform."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from adapters.postgres.unit_of_work import PostgresUnitOfWorkFactory
from domain.channels.channel import Channel, ChannelKind, WhatsAppConfig
from domain.channels.inbox import InboxEntry
from domain.common.ids import ChannelId, TenantId, new_id
from domain.tenants.tenant import Tenant


async def add_channel(uow_factory: PostgresUnitOfWorkFactory, phone_number_id: str) -> Channel:
    tenant = Tenant(id=TenantId(new_id()), name=f"Tenant {phone_number_id}")
    channel = Channel(
        id=ChannelId(new_id()),
        tenant_id=tenant.id,
        kind=ChannelKind.WHATSAPP,
        name="Support",
        config=WhatsAppConfig(phone_number_id=phone_number_id),
        secrets={"access_token": "token"},
    )
    async with uow_factory(None) as uow:
        await uow.tenants.add(tenant)
        await uow.channels.add(channel)
        await uow.commit()
    return channel


def entry(channel: Channel, contact_id: str) -> InboxEntry:
    return InboxEntry(
        id=new_id(),
        tenant_id=channel.tenant_id,
        channel_id=channel.id,
        kind=channel.kind,
        provider_event_key=f"wamid.{new_id().hex}",
        payload={},
        contact_id=contact_id,
    )


async def store(uow_factory: PostgresUnitOfWorkFactory, *entries: InboxEntry) -> None:
    async with uow_factory(entries[0].tenant_id) as uow:
        await uow.inbox.add_new(list(entries))
        await uow.commit()


async def others_pending(uow_factory: PostgresUnitOfWorkFactory, of: InboxEntry) -> bool:
    async with uow_factory(of.tenant_id) as uow:
        return await uow.inbox.others_pending(of)


async def test_only_the_same_contacts_other_waiting_events_count(uow_factory: PostgresUnitOfWorkFactory) -> None:
    channel = await add_channel(uow_factory, "106540352242111")
    other_channel = await add_channel(uow_factory, "106540352242222")
    first = entry(channel, "15550001")
    await store(uow_factory, first, entry(channel, "15550002"))
    await store(uow_factory, entry(other_channel, "15550001"))
    # Alone: another contact's event and the same number on another tenant's channel do not count.
    assert not await others_pending(uow_factory, first)

    second = entry(channel, "15550001")
    await store(uow_factory, second)
    assert await others_pending(uow_factory, first)
    assert await others_pending(uow_factory, second)

    async with uow_factory(channel.tenant_id) as uow:
        second.mark_processed("message_stored")
        await uow.inbox.finish(second)
        await uow.commit()
    assert not await others_pending(uow_factory, first)


async def test_the_question_reads_the_contacts_entries_not_every_pending_one(
    uow_factory: PostgresUnitOfWorkFactory, database_url: str
) -> None:
    channel = await add_channel(uow_factory, "106540352242333")
    lone = entry(channel, "15559999")
    await store(uow_factory, lone)
    # A backlog: thousands of other contacts' events waiting, on this tenant's channel and on another's.
    await store(uow_factory, *(entry(channel, f"1555{index:04d}") for index in range(2000)))
    other = await add_channel(uow_factory, "106540352242444")
    await store(uow_factory, *(entry(other, f"1555{index:04d}") for index in range(2000)))

    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute("ANALYZE inbox")
        [plan] = json.loads(
            await connection.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) SELECT EXISTS (SELECT * FROM inbox WHERE tenant_id = $1"
                " AND channel_id = $2 AND contact_id = $3 AND state = 'pending' AND id != $4)",
                lone.tenant_id,
                lone.channel_id,
                lone.contact_id,
                lone.id,
            )
        )
    finally:
        await connection.close()
    assert not await others_pending(uow_factory, lone)
    assert _rows_read(plan["Plan"]) <= 1


def _rows_read(node: dict[str, Any]) -> int:
    """Rows the plan's scans looked at: those they returned and those their filters threw away."""
    own = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0) if "Scan" in node["Node Type"] else 0
    return int(own + sum(_rows_read(child) for child in node.get("Plans", [])))
