"""TransactionDriver: outbox rows staged and writes deferred in a unit of work ride on its next statement (plain
or itself a WITH query), or on a bare statement just before the commit; rows in the order staged, and
nothing at all without a commit."""

from __future__ import annotations

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.unit_of_work import PostgresUnitOfWorkFactory
from domain.channels.channel import Channel
from domain.common.ids import ConversationId, new_id
from domain.conversations.conversation import Conversation
from domain.events import Event
from tests.support.channels import inbox_entry, store_whatsapp_channel
from tests.support.plans import STAGED_OUTBOX, recorded_statements, without_staged_outbox
from tests.support.services import asyncpg_dsn


def numbered(channel: Channel, *numbers: int) -> list[Event]:
    return [
        Event(type="tenant.updated", tenant_id=channel.tenant_id, data={"n": number}, aggregate_key="tenant")
        for number in numbers
    ]


async def outbox_numbers(database_url: str) -> list[int]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch("SELECT payload::json->'data'->>'n' AS n FROM outbox ORDER BY seq")
    finally:
        await connection.close()
    return [int(row["n"]) for row in rows if row["n"] is not None]


async def test_staged_rows_ride_on_the_next_statement_and_the_rest_go_before_the_commit(
    uow_factory: PostgresUnitOfWorkFactory, engine: AsyncEngine, database_url: str
) -> None:
    channel = await store_whatsapp_channel(uow_factory, "106540352242321")
    candidate = Conversation(
        id=ConversationId(new_id()), tenant_id=channel.tenant_id, channel_id=channel.id, contact_id="15550001"
    )
    with recorded_statements(engine) as statements:
        async with uow_factory(channel.tenant_id) as uow:
            await uow.outbox.add(numbered(channel, 1, 2))
            # A plain statement with parameters of its own carries them...
            assert await uow.channels.get(channel.tenant_id, channel.id) == channel
            await uow.outbox.add(numbered(channel, 3))
            # ... as does one that is a WITH query itself.
            conversation, added = await uow.conversations.get_or_add(candidate)
            await uow.outbox.add(numbered(channel, 4, 5))
            await uow.commit()

    assert (conversation, added) == (candidate, True)
    # Three inserts for three stagings, each carried: the last by a bare statement before the commit.
    inserting = [statement for statement in statements if "INSERT INTO outbox" in statement]
    assert [statement.startswith(STAGED_OUTBOX) for statement in inserting] == [True, True, True]
    assert [without_staged_outbox(statement).split()[0] for statement in inserting] == ["SELECT", "WITH", "SELECT"]
    assert without_staged_outbox(inserting[2]) == "SELECT"
    assert await outbox_numbers(database_url) == [1, 2, 3, 4, 5]


async def test_a_finished_inbox_entry_rides_with_the_staged_rows_or_goes_before_the_commit(
    uow_factory: PostgresUnitOfWorkFactory, engine: AsyncEngine, database_url: str, db: asyncpg.Connection
) -> None:
    channel = await store_whatsapp_channel(uow_factory, "106540352242543")
    carried, flushed = inbox_entry(channel, "15550001"), inbox_entry(channel, "15550002")
    async with uow_factory(channel.tenant_id) as uow:
        await uow.inbox.add_new([carried, flushed])
        await uow.commit()

    with recorded_statements(engine) as statements:
        async with uow_factory(channel.tenant_id) as uow:
            await uow.outbox.add(numbered(channel, 1))
            carried.mark_processed("message_stored")
            await uow.inbox.finish(carried)
            assert await uow.channels.get(channel.tenant_id, channel.id) == channel
            flushed.mark_ignored("a test")
            await uow.inbox.finish(flushed)
            await uow.outbox.add(numbered(channel, 2))
            await uow.commit()

    # The read carries the first finish with the row staged before it; the bare statement before the commit
    # carries the second with the row staged after it; neither costs a statement of its own.
    writing = [statement for statement in statements if "UPDATE inbox" in statement or "outbox" in statement]
    assert [statement.count("UPDATE inbox") for statement in writing] == [1, 1]
    assert [statement.count("INSERT INTO outbox") for statement in writing] == [1, 1]
    assert without_staged_outbox(writing[0]).startswith("SELECT channels.")
    assert without_staged_outbox(writing[1]) == "SELECT"
    states = await db.fetch("SELECT provider_event_key, state, outcome FROM inbox ORDER BY contact_id")
    assert [(row["provider_event_key"], row["state"], row["outcome"]) for row in states] == [
        (carried.provider_event_key, "processed", "message_stored"),
        (flushed.provider_event_key, "ignored", "a test"),
    ]
    assert await outbox_numbers(database_url) == [1, 2]


async def test_deferred_writes_of_a_transaction_that_does_not_commit_are_never_written(
    uow_factory: PostgresUnitOfWorkFactory, database_url: str, db: asyncpg.Connection
) -> None:
    channel = await store_whatsapp_channel(uow_factory, "106540352242432")
    pending = inbox_entry(channel, "15550001")
    async with uow_factory(channel.tenant_id) as uow:
        await uow.inbox.add_new([pending])
        await uow.commit()
    async with uow_factory(channel.tenant_id) as uow:
        await uow.outbox.add(numbered(channel, 1))
        await uow.channels.get(channel.tenant_id, channel.id)
        await uow.outbox.add(numbered(channel, 2))
        pending.mark_processed("message_stored")
        await uow.inbox.finish(pending)

    async with uow_factory(channel.tenant_id) as uow:
        await uow.outbox.add(numbered(channel, 3))
        await uow.commit()

    assert await outbox_numbers(database_url) == [3]
    assert await db.fetchval("SELECT state FROM inbox") == "pending"
