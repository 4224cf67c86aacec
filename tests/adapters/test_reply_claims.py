"""PostgresReplyClaims: a bot reply claimed in one statement only while nothing was stored in its conversation
since the last input and the bot has it; whatever it declines, it leaves untouched."""

from __future__ import annotations

import asyncio

import asyncpg
import attrs
import pytest

from adapters.postgres.reply_claims import PostgresReplyClaims
from adapters.postgres.tenant_sessions import TenantSessions
from adapters.postgres.unit_of_work import PostgresUnitOfWorkFactory
from domain.channels.channel import Channel
from domain.common.ids import ConversationId, MessageId, new_id
from domain.conversations.conversation import Conversation
from domain.conversations.message import DeliveryStatus, Direction, Message, MessageType, SenderRole
from tests.support.channels import store_whatsapp_channel


@attrs.define
class Thread:
    conversation: Conversation
    question: Message

    def message(self, direction: Direction, sender: SenderRole, text: str, **fields: object) -> Message:
        return Message(
            id=MessageId(new_id()),
            tenant_id=self.conversation.tenant_id,
            conversation_id=self.conversation.id,
            channel_id=self.conversation.channel_id,
            direction=direction,
            sender=sender,
            type=MessageType.TEXT,
            text=text,
            **fields,  # type: ignore[arg-type]
        )

    def reply(self, text: str = "Refunds take 30 days.") -> Message:
        return self.message(
            Direction.OUTBOUND,
            SenderRole.BOT,
            text,
            status=DeliveryStatus.PENDING,
            idempotency_key=f"reply:{self.question.id}",
        )


@pytest.fixture
def claims(one_tenant_session: TenantSessions) -> PostgresReplyClaims:
    return PostgresReplyClaims(one_tenant_session)


async def start_thread(uow_factory: PostgresUnitOfWorkFactory, channel: Channel, contact: str = "15550001") -> Thread:
    """A conversation whose newest message is the user's question, read back as the turn reads it."""
    conversation = Conversation(
        id=ConversationId(new_id()), tenant_id=channel.tenant_id, channel_id=channel.id, contact_id=contact
    )
    thread = Thread(
        conversation,
        Message(
            MessageId(new_id()),
            channel.tenant_id,
            conversation.id,
            channel.id,
            Direction.INBOUND,
            SenderRole.CONTACT,
            MessageType.TEXT,
            "refunds?",
        ),
    )
    await store(uow_factory, thread, thread.question)
    async with uow_factory(channel.tenant_id) as uow:
        question = await uow.messages.get(channel.tenant_id, thread.question.id)
    assert question is not None
    thread.question = question
    return thread


async def store(uow_factory: PostgresUnitOfWorkFactory, thread: Thread, message: Message) -> None:
    async with uow_factory(thread.conversation.tenant_id) as uow:
        await uow.conversations.get_or_add(thread.conversation)
        await uow.messages.add(message)
        await uow.commit()


async def numbered(db: asyncpg.Connection, thread: Thread) -> list[tuple[str, int]]:
    rows = await db.fetch(
        "SELECT text, seq FROM messages WHERE conversation_id = $1 ORDER BY seq", thread.conversation.id
    )
    return [(row["text"], row["seq"]) for row in rows]


async def test_a_reply_to_the_newest_message_is_claimed_under_the_next_number(
    uow_factory: PostgresUnitOfWorkFactory, claims: PostgresReplyClaims, db: asyncpg.Connection
) -> None:
    thread = await start_thread(uow_factory, await store_whatsapp_channel(uow_factory, "106540352250001"))
    reply = thread.reply()

    assert await claims.claim_unanswered(reply, thread.question) is True

    assert await numbered(db, thread) == [("refunds?", 1), ("Refunds take 30 days.", 2)]
    assert await db.fetchval("SELECT last_seq FROM conversation_sequences") == 2
    ledger = await db.fetchrow("SELECT idempotency_key, message_id FROM outbound_sends")
    assert (ledger["idempotency_key"], ledger["message_id"]) == (reply.idempotency_key, reply.id)
    assert await db.fetchval("SELECT status FROM messages WHERE id = $1", reply.id) == "pending"
    # The next message still gets its number from the counter.
    await store(uow_factory, thread, thread.message(Direction.INBOUND, SenderRole.CONTACT, "thanks"))
    assert (await numbered(db, thread))[-1] == ("thanks", 3)


@pytest.mark.parametrize(
    ("direction", "sender", "text"),
    [
        (Direction.INBOUND, SenderRole.CONTACT, "it arrived broken"),
        (Direction.OUTBOUND, SenderRole.AGENT, "Hi, Anna here"),
        # A reaction does not need an answer, but it is not this claim's to judge: the transaction decides.
        (Direction.INBOUND, SenderRole.CONTACT, "👍"),
    ],
)
async def test_anything_stored_after_the_last_input_declines_the_claim(
    uow_factory: PostgresUnitOfWorkFactory,
    claims: PostgresReplyClaims,
    db: asyncpg.Connection,
    direction: Direction,
    sender: SenderRole,
    text: str,
) -> None:
    thread = await start_thread(uow_factory, await store_whatsapp_channel(uow_factory, "106540352250002"))
    await store(uow_factory, thread, thread.message(direction, sender, text))

    assert await claims.claim_unanswered(thread.reply(), thread.question) is False

    assert await numbered(db, thread) == [("refunds?", 1), (text, 2)]
    assert await db.fetchval("SELECT last_seq FROM conversation_sequences") == 2
    assert await db.fetchval("SELECT count(*) FROM outbound_sends") == 0


async def test_a_conversation_with_a_person_or_a_taken_key_declines_the_claim(
    uow_factory: PostgresUnitOfWorkFactory, claims: PostgresReplyClaims, db: asyncpg.Connection
) -> None:
    channel = await store_whatsapp_channel(uow_factory, "106540352250003")
    with_person = await start_thread(uow_factory, channel)
    await db.execute("UPDATE conversations SET state = 'human' WHERE id = $1", with_person.conversation.id)
    answered = await start_thread(uow_factory, channel, contact="15550002")
    first = answered.reply("first answer")
    assert await claims.claim_unanswered(first, answered.question) is True
    # The same key again, as a redelivered task would claim it, with the counter as it was before the first.
    await db.execute(
        "UPDATE conversation_sequences SET last_seq = 1 WHERE conversation_id = $1", answered.conversation.id
    )

    assert await claims.claim_unanswered(with_person.reply(), with_person.question) is False
    assert await claims.claim_unanswered(answered.reply("second answer"), answered.question) is False

    assert await numbered(db, with_person) == [("refunds?", 1)]
    assert await numbered(db, answered) == [("refunds?", 1), ("first answer", 2)]
    assert await db.fetchval("SELECT count(*) FROM outbound_sends") == 1


async def test_a_reply_naming_another_tenants_conversation_stores_nothing(
    uow_factory: PostgresUnitOfWorkFactory, claims: PostgresReplyClaims, db: asyncpg.Connection
) -> None:
    theirs = await start_thread(uow_factory, await store_whatsapp_channel(uow_factory, "106540352250004"))
    ours = await store_whatsapp_channel(uow_factory, "106540352250005")
    reply = attrs.evolve(theirs.reply(), tenant_id=ours.tenant_id, channel_id=ours.id)

    assert await claims.claim_unanswered(reply, attrs.evolve(theirs.question, tenant_id=ours.tenant_id)) is False

    assert await numbered(db, theirs) == [("refunds?", 1)]
    assert await db.fetchval("SELECT count(*) FROM outbound_sends") == 0


async def claim_while_a_writer_holds_the_conversation(
    uow_factory: PostgresUnitOfWorkFactory,
    claims: PostgresReplyClaims,
    db: asyncpg.Connection,
    thread: Thread,
    *,
    writer_commits: bool,
) -> bool:
    """The claim's statement starts while another transaction holds the conversation and has stored the
    user's next message; it has to wait for that transaction, whose message its snapshot does not see."""
    async with uow_factory(thread.conversation.tenant_id) as uow:
        assert await uow.turns.lock_conversation(thread.conversation.tenant_id, thread.conversation.id)
        await uow.messages.add(thread.message(Direction.INBOUND, SenderRole.CONTACT, "it arrived broken"))
        claim = asyncio.create_task(claims.claim_unanswered(thread.reply(), thread.question))
        for _ in range(500):
            if await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the claim never waited for the writer")
        assert not claim.done()
        if writer_commits:
            await uow.commit()
    return await claim


async def test_a_message_committed_while_the_claim_waits_for_the_conversation_declines_it(
    uow_factory: PostgresUnitOfWorkFactory, claims: PostgresReplyClaims, db: asyncpg.Connection
) -> None:
    thread = await start_thread(uow_factory, await store_whatsapp_channel(uow_factory, "106540352250006"))

    claimed = await claim_while_a_writer_holds_the_conversation(uow_factory, claims, db, thread, writer_commits=True)

    assert claimed is False
    assert await numbered(db, thread) == [("refunds?", 1), ("it arrived broken", 2)]
    assert await db.fetchval("SELECT count(*) FROM outbound_sends") == 0


async def test_a_writer_that_rolls_back_leaves_the_claim_to_go_ahead(
    uow_factory: PostgresUnitOfWorkFactory, claims: PostgresReplyClaims, db: asyncpg.Connection
) -> None:
    thread = await start_thread(uow_factory, await store_whatsapp_channel(uow_factory, "106540352250007"))

    claimed = await claim_while_a_writer_holds_the_conversation(uow_factory, claims, db, thread, writer_commits=False)

    assert claimed is True
    assert await numbered(db, thread) == [("refunds?", 1), ("Refunds take 30 days.", 2)]
