"""Who wakes the relays when outbox rows commit: the trigger's NOTIFY for a process without relays, the
committing process itself for one with relays, whose sessions then leave NOTIFY (and the database-wide
lock it takes at commit) out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from adapters.crypto.aes_gcm import AesGcmSecretCipher, generate_encoded_key
from adapters.postgres.delivery_outcomes import PostgresDeliveryOutcomes
from adapters.postgres.engine import make_engine
from adapters.postgres.inbox_intake import PostgresInboxIntake
from adapters.postgres.notifications import OUTBOX_CHANNEL, OutboxWakeups
from adapters.postgres.tenant_sessions import TenantSessions
from adapters.postgres.unit_of_work import PostgresUnitOfWorkFactory
from application.conversations.views import message_event
from application.ports.events import OutboxKind
from application.ports.tasks import Task
from domain.channels.channel import Channel
from domain.common.ids import ConversationId, MessageId, new_id
from domain.conversations.message import DeliveryStatus, Direction, Message, MessageType, SenderRole
from domain.events import Event
from tests.support.channels import inbox_entry, store_whatsapp_channel


class Notifications:
    """What a listener hears on the outbox channel, in commit order."""

    def __init__(self) -> None:
        self.heard: asyncio.Queue[str] = asyncio.Queue()

    def __call__(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        self.heard.put_nowait(payload)

    async def next(self) -> str:
        return await asyncio.wait_for(self.heard.get(), 10)


@pytest.fixture
async def notifications(db: asyncpg.Connection) -> AsyncIterator[Notifications]:
    listener = Notifications()
    await db.add_listener(OUTBOX_CHANNEL, listener)
    yield listener
    await db.remove_listener(OUTBOX_CHANNEL, listener)


class LocalRelays:
    """A process with relays: its wake-ups, one relay signal per kind, and its database sessions."""

    def __init__(self, database_url: str) -> None:
        self.wakeups = OutboxWakeups(relays_here=True)
        self.woken = {kind: asyncio.Event() for kind in OutboxKind}
        for kind, wake in self.woken.items():
            self.wakeups.relay(kind, wake)
        self.engine = make_engine(database_url, pool_size=2, session_settings=self.wakeups.session_settings)
        self.uow_factory = PostgresUnitOfWorkFactory(
            self.engine, AesGcmSecretCipher.from_encoded_key(generate_encoded_key()), self.wakeups
        )
        self.sessions = TenantSessions(database_url, max_connections=1, session_settings=self.wakeups.session_settings)

    def woken_kinds(self) -> set[OutboxKind]:
        return {kind for kind, wake in self.woken.items() if wake.is_set()}


@pytest.fixture
async def local(database_url: str) -> AsyncIterator[LocalRelays]:
    relays = LocalRelays(database_url)
    await relays.sessions.start()
    yield relays
    await relays.sessions.close()
    await relays.engine.dispose()


def an_event(channel: Channel) -> Event:
    return Event(type="message.received", tenant_id=channel.tenant_id, aggregate_key="conversation:1", data={})


async def commit_an_event(uow_factory: PostgresUnitOfWorkFactory, channel: Channel) -> None:
    async with uow_factory(channel.tenant_id) as uow:
        await uow.outbox.add([an_event(channel)])
        await uow.commit()


async def test_a_process_with_relays_wakes_them_itself_and_notifies_nobody(
    uow_factory: PostgresUnitOfWorkFactory, local: LocalRelays, notifications: Notifications
) -> None:
    channel = await store_whatsapp_channel(uow_factory, "106540352240001")

    async with local.uow_factory(channel.tenant_id) as uow:
        await uow.outbox.add([an_event(channel)])
        # Not yet committed: nothing to relay.
        await uow.outbox.add_tasks([Task(name="inbox.process", tenant_id=channel.tenant_id, payload={})])
        assert local.woken_kinds() == set()
        await uow.commit()
    assert local.woken_kinds() == {OutboxKind.EVENT, OutboxKind.TASK}

    # A process without relays of its own notifies; notifications arrive in commit order, so the first one
    # heard being this later commit's means the commit above sent none.
    await commit_an_event(uow_factory, channel)
    assert await notifications.next() == "event"
    assert notifications.heard.empty()


async def test_only_committed_rows_wake_and_only_the_relays_of_their_kind(
    uow_factory: PostgresUnitOfWorkFactory, local: LocalRelays, db: asyncpg.Connection
) -> None:
    channel = await store_whatsapp_channel(uow_factory, "106540352240001")
    async with local.uow_factory(channel.tenant_id) as uow:
        await uow.outbox.add([an_event(channel)])
        # The staged row rides on this statement: written, then rolled back with the transaction.
        assert await uow.inbox.lock(channel.tenant_id, new_id()) is None
    async with local.uow_factory(channel.tenant_id) as uow:
        await uow.inbox.lock(channel.tenant_id, new_id())
        await uow.commit()
    assert local.woken_kinds() == set()
    assert await db.fetchval("SELECT count(*) FROM outbox") == 0

    await commit_an_event(local.uow_factory, channel)
    assert local.woken_kinds() == {OutboxKind.EVENT}


async def test_the_one_statement_writers_wake_the_relays_of_what_they_wrote(
    uow_factory: PostgresUnitOfWorkFactory, local: LocalRelays, notifications: Notifications
) -> None:
    channel = await store_whatsapp_channel(uow_factory, "106540352240001")
    intake = PostgresInboxIntake(local.sessions, local.wakeups)
    entry = inbox_entry(channel, "15550001")
    task = Task(name="inbox.process", tenant_id=channel.tenant_id, payload={"inbox_id": str(entry.id)})
    assert await intake.store_new(channel.tenant_id, [(entry, task)]) == [entry]
    assert local.woken_kinds() == {OutboxKind.TASK}

    local.woken[OutboxKind.TASK].clear()
    # Already stored: no row written, nothing to wake for.
    assert await intake.store_new(channel.tenant_id, [(entry, task)]) == []
    assert local.woken_kinds() == set()

    reply = Message(
        id=MessageId(new_id()),
        tenant_id=channel.tenant_id,
        conversation_id=ConversationId(new_id()),
        channel_id=channel.id,
        direction=Direction.OUTBOUND,
        sender=SenderRole.BOT,
        type=MessageType.TEXT,
        text="Refunds take 30 days.",
        status=DeliveryStatus.SENT,
    )
    await PostgresDeliveryOutcomes(local.sessions, local.wakeups).record(reply, message_event(reply, "15550001"))
    assert local.woken_kinds() == {OutboxKind.EVENT}

    await commit_an_event(uow_factory, channel)
    assert await notifications.next() == "event"
    assert notifications.heard.empty()
