"""PostgresInboxRepository.lock: the entry, locked, and whether its contact has other events waiting. Read for
every processed event, so it must read only that contact's pending entries, never every pending entry of the
platform."""

from __future__ import annotations

from adapters.postgres.repositories.inbox import _LOCK
from adapters.postgres.unit_of_work import PostgresUnitOfWorkFactory
from domain.channels.inbox import InboxEntry
from tests.support.channels import inbox_entry, store_whatsapp_channel
from tests.support.plans import rows_read


async def store(uow_factory: PostgresUnitOfWorkFactory, *entries: InboxEntry) -> None:
    async with uow_factory(entries[0].tenant_id) as uow:
        await uow.inbox.add_new(list(entries))
        await uow.commit()


async def others_pending(uow_factory: PostgresUnitOfWorkFactory, of: InboxEntry) -> bool:
    async with uow_factory(of.tenant_id) as uow:
        locked = await uow.inbox.lock(of.tenant_id, of.id)
    assert locked is not None
    assert locked.entry.id == of.id
    return locked.others_pending


async def test_only_the_same_contacts_other_waiting_events_count(uow_factory: PostgresUnitOfWorkFactory) -> None:
    channel = await store_whatsapp_channel(uow_factory, "106540352242111")
    other_channel = await store_whatsapp_channel(uow_factory, "106540352242222")
    first = inbox_entry(channel, "15550001")
    await store(uow_factory, first, inbox_entry(channel, "15550002"))
    await store(uow_factory, inbox_entry(other_channel, "15550001"))
    # Alone: another contact's event and the same number on another tenant's channel do not count.
    assert not await others_pending(uow_factory, first)

    second = inbox_entry(channel, "15550001")
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
    channel = await store_whatsapp_channel(uow_factory, "106540352242333")
    lone = inbox_entry(channel, "15559999")
    await store(uow_factory, lone)
    # A backlog: thousands of other contacts' events waiting, on this tenant's channel and on another's.
    await store(uow_factory, *(inbox_entry(channel, f"1555{index:04d}") for index in range(2000)))
    other = await store_whatsapp_channel(uow_factory, "106540352242444")
    await store(uow_factory, *(inbox_entry(other, f"1555{index:04d}") for index in range(2000)))

    read = await rows_read(database_url, _LOCK, {"b_tenant_id": lone.tenant_id, "b_id": lone.id})
    assert not await others_pending(uow_factory, lone)
    # The entry itself and its channel, by their keys, and the entry again in each look at its contact's waiting
    # events (whether others wait, which of them came earlier); none of the 4,000 other waiting entries.
    assert read <= 4


async def test_the_entry_comes_with_its_channel_as_stored(uow_factory: PostgresUnitOfWorkFactory) -> None:
    channel = await store_whatsapp_channel(uow_factory, "106540352242555")
    waiting = inbox_entry(channel, "15550001")
    await store(uow_factory, waiting)
    async with uow_factory(channel.tenant_id) as uow:
        locked = await uow.inbox.lock(channel.tenant_id, waiting.id)
    assert locked is not None
    assert locked.channel == channel
    assert locked.channel.secrets == {"access_token": "token"}
