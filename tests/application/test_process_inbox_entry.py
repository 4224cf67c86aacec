"""ProcessInboxEntry against real Postgres (and the fake Graph API for media): webhook → inbox → state."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import attrs
import pytest
from dishka import AsyncContainer
from sqlalchemy.ext.asyncio import AsyncEngine

from application.conversations.handle_conversation_turn import (
    TIMELINE_WINDOW,
    ConversationTurnInput,
    HandleConversationTurn,
    HeldRows,
)
from application.inbox.accept_webhook import AcceptWebhook, AcceptWebhookInput
from application.inbox.process_inbox_entry import (
    ProcessInboxEntry,
    ProcessInboxEntryInput,
    ProcessInboxEntryResult,
    TurnReader,
)
from application.ports.blob_storage import BlobStorage
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from domain.channels.channel import ChannelKind
from domain.common.ids import ChannelId, ConversationId, MessageId, TenantId, new_id
from domain.conversations.conversation import Conversation
from domain.conversations.message import DeliveryStatus, Direction, Message, MessageType, SenderRole
from entrypoints.settings import MetaSettings, Settings
from tests.fakes.graph_api import FakeGraphApi
from tests.support.api import Client, create_channel, create_tenant
from tests.support.meta import (
    CONTACT,
    PAGE_ID,
    PHONE_NUMBER_ID,
    PSID,
    fb_event,
    fb_webhook,
    meta_json,
    signature,
    wa_message,
    wa_status,
    wa_value,
    wa_webhook,
)
from tests.support.plans import STAGED_OUTBOX, recorded_statements, without_staged_outbox
from tests.support.services import asyncpg_dsn

APP_SECRET = "platform-app-secret"


@pytest.fixture
def settings(settings: Settings, graph: FakeGraphApi) -> Settings:
    return attrs.evolve(settings, meta=MetaSettings(app_secret=APP_SECRET, graph_api_url=graph.base_url))


@attrs.define
class Platform:
    container: AsyncContainer
    db: asyncpg.Connection
    tenant_id: TenantId
    channel_ids: dict[ChannelKind, ChannelId]
    handled: set[str] = attrs.field(factory=set)

    async def deliver(
        self, kind: ChannelKind, payload: Any, read_turn: TurnReader | None = None
    ) -> list[ProcessInboxEntryResult]:
        """What Meta + the worker do: POST the webhook, then run every task it queued."""
        body = meta_json(payload)
        accept = await self.container.get(AcceptWebhook)
        await accept.execute(AcceptWebhookInput(kind, body, signature(body, APP_SECRET)))
        return [await self.process(inbox_id, read_turn) for inbox_id in await self.new_inbox_tasks()]

    async def new_inbox_tasks(self) -> list[uuid.UUID]:
        rows = await self.db.fetch("SELECT id, payload FROM outbox WHERE type = 'inbox.process' ORDER BY seq")
        fresh = [row for row in rows if str(row["id"]) not in self.handled]
        self.handled |= {str(row["id"]) for row in fresh}
        return [uuid.UUID(json.loads(row["payload"])["payload"]["inbox_id"]) for row in fresh]

    async def process(self, inbox_id: uuid.UUID, read_turn: TurnReader | None = None) -> ProcessInboxEntryResult:
        use_case = await self.container.get(ProcessInboxEntry)
        return await use_case.execute(ProcessInboxEntryInput(self.tenant_id, inbox_id), read_turn)

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        rows = await self.db.fetch("SELECT payload FROM outbox WHERE type = $1 ORDER BY seq", event_type)
        return [json.loads(row["payload"]) for row in rows]

    async def messages(self) -> list[Message]:
        rows = await self.db.fetch("SELECT id FROM messages ORDER BY created_at")
        uow_factory = await self.container.get(UnitOfWorkFactory)
        async with uow_factory(self.tenant_id) as uow:
            found = [await uow.messages.get(self.tenant_id, MessageId(row["id"])) for row in rows]
        return [message for message in found if message is not None]

    async def outbound(self, kind: ChannelKind, provider_id: str, contact: str, status: DeliveryStatus) -> Message:
        """A reply the conversation engine sent earlier."""
        uow_factory = await self.container.get(UnitOfWorkFactory)
        channel_id = self.channel_ids[kind]
        async with uow_factory(self.tenant_id) as uow:
            conversation, _ = await uow.conversations.get_or_add(
                Conversation(
                    id=ConversationId(new_id()), tenant_id=self.tenant_id, channel_id=channel_id, contact_id=contact
                )
            )
            message = Message(
                id=MessageId(new_id()),
                tenant_id=self.tenant_id,
                conversation_id=conversation.id,
                channel_id=channel_id,
                direction=Direction.OUTBOUND,
                sender=SenderRole.BOT,
                type=MessageType.TEXT,
                text="our reply",
                provider_message_id=provider_id,
                status=status,
                created_at=datetime.now(UTC) - timedelta(minutes=5),
            )
            await uow.messages.add(message)
            await uow.commit()
        return message


@pytest.fixture
async def platform(client: Client, container: AsyncContainer, db: asyncpg.Connection, graph: FakeGraphApi) -> Platform:
    tenant = await create_tenant(client)
    whatsapp = await create_channel(
        client,
        tenant["id"],
        kind="whatsapp",
        name="Support",
        config={"phone_number_id": PHONE_NUMBER_ID},
        secrets={"access_token": graph.access_token},
    )
    messenger = await create_channel(
        client,
        tenant["id"],
        kind="messenger",
        name="Page",
        config={"page_id": PAGE_ID},
        secrets={"page_access_token": "x"},
    )
    return Platform(
        container,
        db,
        TenantId(uuid.UUID(tenant["id"])),
        {
            ChannelKind.WHATSAPP: ChannelId(uuid.UUID(whatsapp["id"])),
            ChannelKind.MESSENGER: ChannelId(uuid.UUID(messenger["id"])),
        },
    )


async def test_a_text_creates_the_conversation_stores_the_message_and_asks_for_a_turn(platform: Platform) -> None:
    results = await platform.deliver(
        ChannelKind.WHATSAPP, wa_webhook(wa_value(messages=[wa_message("text", {"body": "Hi!"})]))
    )
    assert [r.outcome for r in results] == ["message_stored"]
    [result] = results
    [message] = await platform.messages()
    assert (message.text, message.type, message.direction, message.status) == (
        "Hi!",
        MessageType.TEXT,
        Direction.INBOUND,
        DeliveryStatus.RECEIVED,
    )
    [created] = await platform.events("conversation.created")
    assert created["data"]["contact_id"] == CONTACT
    assert created["data"]["contact_name"] == "Zoë Ångström"
    [received] = await platform.events("message.received")
    assert received["data"]["message_id"] == str(message.id)
    # Nothing else of the contact is waiting: the same task answers, no turn task travels through the broker.
    assert result.answer_now == ConversationTurnInput(platform.tenant_id, message.conversation_id, message.id)
    assert await platform.db.fetchval("SELECT count(*) FROM outbox WHERE type = 'conversation.turn'") == 0
    last_inbound = await platform.db.fetchval("SELECT last_inbound_at FROM conversations")
    assert last_inbound == datetime.fromtimestamp(1764079200, UTC)


async def test_messages_of_a_burst_queue_their_turns_behind_the_last_which_answers_at_once(
    platform: Platform,
) -> None:
    burst = [wa_message("text", {"body": text}, wamid=f"w.b{n}") for n, text in enumerate(["hi", "my lamp", "where?"])]
    results = await platform.deliver(ChannelKind.WHATSAPP, wa_webhook(wa_value(messages=burst)))

    stored = {message.text: message for message in await platform.messages()}
    assert [result.answer_now for result in results] == [
        None,
        None,
        ConversationTurnInput(platform.tenant_id, stored["where?"].conversation_id, stored["where?"].id),
    ]
    turns = await platform.db.fetch("SELECT aggregate_key, payload FROM outbox WHERE type = 'conversation.turn'")
    assert [json.loads(turn["payload"])["payload"]["message_id"] for turn in turns] == [
        str(stored["hi"].id),
        str(stored["my lamp"].id),
    ]
    assert {turn["aggregate_key"] for turn in turns} == {
        f"contact:{platform.channel_ids[ChannelKind.WHATSAPP]}:{CONTACT}"
    }


async def test_the_turn_to_answer_now_is_read_in_the_transaction_that_stored_its_message(platform: Platform) -> None:
    body = meta_json(wa_webhook(wa_value(messages=[wa_message("text", {"body": "Hi"})])))
    accept = await platform.container.get(AcceptWebhook)
    await accept.execute(AcceptWebhookInput(ChannelKind.WHATSAPP, body, signature(body, APP_SECRET)))
    [inbox_id] = await platform.new_inbox_tasks()
    handed: list[tuple[ConversationTurnInput, Message]] = []
    held_as_stored: list[bool] = []

    async def read_turn(uow: UnitOfWork, turn: ConversationTurnInput, held: HeldRows | None) -> None:
        assert held is not None
        handed.append((turn, held.inbound))
        # The rows handed over are exactly what the transaction would read again.
        held_as_stored.append(
            held.conversation == await uow.conversations.get(turn.tenant_id, turn.conversation_id)
            and held.channel == await uow.channels.get(turn.tenant_id, held.conversation.channel_id)
        )

    use_case = await platform.container.get(ProcessInboxEntry)
    result = await use_case.execute(ProcessInboxEntryInput(platform.tenant_id, inbox_id), read_turn)

    # The message is handed over as the commit stored it.
    [(turn, inbound)] = handed
    assert turn == result.answer_now
    assert inbound.id == turn.message_id
    assert await platform.messages() == [inbound]
    assert held_as_stored == [True]


async def test_the_turn_read_beside_the_staged_message_is_the_turn_a_later_read_gives(platform: Platform) -> None:
    # A full window of earlier messages: the staged one has to take the oldest one's place.
    earlier = [wa_message("text", {"body": f"m{n}"}, wamid=f"w.{n}") for n in range(TIMELINE_WINDOW)]
    await platform.deliver(ChannelKind.WHATSAPP, wa_webhook(wa_value(messages=earlier)))
    loaded: list[tuple[ConversationTurnInput, object]] = []

    async def load_turn(uow: UnitOfWork, turn: ConversationTurnInput, held: HeldRows | None) -> None:
        loaded.append((turn, await HandleConversationTurn.load(uow, turn, held)))

    latest = wa_message("text", {"body": "latest"}, wamid="w.latest")
    await platform.deliver(ChannelKind.WHATSAPP, wa_webhook(wa_value(messages=[latest])), load_turn)

    [(turn, in_transaction)] = loaded
    uow_factory = await platform.container.get(UnitOfWorkFactory)
    async with uow_factory(platform.tenant_id) as uow:
        later = await HandleConversationTurn.load(uow, turn)
    # The same turn, but for the id it picks for its reply.
    assert attrs.evolve(in_transaction, reply_id=later.reply_id) == later  # type: ignore[misc, union-attr]
    timeline = [*later.split.history, *later.split.inputs]  # type: ignore[union-attr]
    assert len(timeline) == TIMELINE_WINDOW
    assert [message.text for message in timeline][-2:] == [f"m{TIMELINE_WINDOW - 1}", "latest"]


async def test_a_later_event_taken_first_stores_the_contacts_earlier_events_first(platform: Platform) -> None:
    # With two worker processes, the task of the burst's second message can take the contact's lock first.
    burst = [wa_message("text", {"body": text}, wamid=f"wamid.{text}") for text in ("first", "second", "third")]
    body = meta_json(wa_webhook(wa_value(messages=burst)))
    accept = await platform.container.get(AcceptWebhook)
    await accept.execute(AcceptWebhookInput(ChannelKind.WHATSAPP, body, signature(body, APP_SECRET)))
    first, second, third = await platform.new_inbox_tasks()

    await platform.process(third)

    assert [message.text for message in await platform.messages()] == ["first", "second", "third"]
    assert [(await platform.process(inbox_id)).outcome for inbox_id in (first, second)] == ["already_processed"] * 2
    assert len(await platform.messages()) == 3


async def test_a_redelivered_task_asks_for_its_turn_again(platform: Platform) -> None:
    # The worker may have stopped between storing the message and sending the answer.
    await platform.deliver(ChannelKind.WHATSAPP, wa_webhook(wa_value(messages=[wa_message("text", {"body": "Hi"})])))
    [inbox_id] = await platform.db.fetch("SELECT id FROM inbox")
    [message] = await platform.messages()

    again = await platform.process(inbox_id["id"])

    assert again.outcome == "already_processed"
    assert again.answer_now == ConversationTurnInput(platform.tenant_id, message.conversation_id, message.id)
    assert len(await platform.messages()) == 1


async def test_a_second_message_reuses_the_conversation(platform: Platform) -> None:
    for wamid in ("wamid.1", "wamid.2"):
        await platform.deliver(
            ChannelKind.WHATSAPP, wa_webhook(wa_value(messages=[wa_message("text", {"body": wamid}, wamid=wamid)]))
        )
    assert await platform.db.fetchval("SELECT count(*) FROM conversations") == 1
    assert len(await platform.events("conversation.created")) == 1
    assert len(await platform.messages()) == 2


async def read_the_turn(uow: UnitOfWork, turn: ConversationTurnInput, held: HeldRows | None) -> None:
    """What the worker's task does after storing a message: read the turn in the same transaction."""
    await HandleConversationTurn.load(uow, turn, held)


def verbs_on(table: str, statements: list[str]) -> list[str]:
    """The verbs of the statements whose target (what comes before WHERE) is `table`, in order."""
    targets = [without_staged_outbox(statement).split("WHERE")[0] for statement in statements]
    return [target.split()[0] for target in targets if re.search(rf"\b{table}\b", target)]


async def test_an_inbound_message_costs_a_conversation_statement_only_when_the_conversation_is_new(
    platform: Platform,
) -> None:
    engine = await platform.container.get(AsyncEngine)
    recorded: list[list[str]] = []
    for wamid in ("wamid.first", "wamid.second"):
        with recorded_statements(engine) as statements:
            await platform.deliver(
                ChannelKind.WHATSAPP,
                wa_webhook(wa_value(messages=[wa_message("text", {"body": wamid}, wamid=wamid)])),
                read_the_turn,
            )
        recorded.append(statements)

    # The entry's lock reads (and locks) the contact's conversation. New: one statement looks it up again and
    # inserts it, with the message already recorded on it. Existing: no statement of its own, its update rides
    # on the turn's read.
    assert [verbs_on("conversations", statements) for statements in recorded] == [["WITH"], []]
    assert [
        ["UPDATE conversations" in statement for statement in statements if statement.startswith(STAGED_OUTBOX)]
        for statements in recorded
    ] == [[False], [True]]
    [conversation] = await platform.db.fetch("SELECT last_inbound_at FROM conversations")
    assert conversation["last_inbound_at"] is not None
    # The entry is locked and read together with whether its contact has others waiting.
    assert [verbs_on("inbox", statements) for statements in recorded] == [["SELECT"]] * 2
    # The message, its events and the entry's finish ride on the statement after them (the turn's read of the
    # tenant and the history), not on statements of their own.
    for statements in recorded:
        [staging] = [statement for statement in statements if "INSERT INTO outbox" in statement]
        assert staging.startswith(STAGED_OUTBOX)
        assert "UPDATE inbox" in staging
        assert [statement for statement in statements if "INSERT INTO messages" in statement] == [staging]
        assert "FROM tenants" in without_staged_outbox(staging)


async def test_a_handoff_committed_while_a_message_is_stored_is_not_overwritten(
    platform: Platform, database_url: str
) -> None:
    await platform.deliver(ChannelKind.WHATSAPP, wa_webhook(wa_value(messages=[wa_message("text", {"body": "Hi"})])))
    # An agent's handoff, not yet committed, holds the conversation's row while the next message is stored.
    agent = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        handoff = agent.transaction()
        await handoff.start()
        await agent.execute("UPDATE conversations SET state = 'human'")
        later = wa_message("text", {"body": "still there?"}, wamid="wamid.2", timestamp="1764079260")
        storing = asyncio.create_task(platform.deliver(ChannelKind.WHATSAPP, wa_webhook(wa_value(messages=[later]))))
        for _ in range(500):
            if storing.done() or await agent.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            ):
                break
            await asyncio.sleep(0.01)
        await handoff.commit()
        await storing
    finally:
        await agent.close()

    # The message's write to the conversation (its last inbound time) starts from the handoff's row, not from
    # a copy read before the handoff committed.
    [conversation] = await platform.db.fetch("SELECT state, last_inbound_at FROM conversations")
    assert conversation["state"] == "human"
    assert conversation["last_inbound_at"] == datetime.fromtimestamp(1764079260, UTC)


async def test_long_and_unusual_text_round_trips_unchanged(platform: Platform) -> None:
    long_text = ("Sentence with ünïcödé and emoji 😀. " * 2000)[:70_000]
    tricky = 'مرحبا 👋🏽 שלום \u200f\u200e 👨\u200d👩\u200d👧 zero\u200bwidth \ufeff e\u0301 \\ / "quotes"'
    await platform.deliver(
        ChannelKind.WHATSAPP,
        wa_webhook(
            wa_value(
                messages=[
                    wa_message("text", {"body": long_text}, wamid="w.long"),
                    wa_message("text", {"body": tricky}, wamid="w.tricky"),
                ]
            )
        ),
    )
    assert sorted(message.text for message in await platform.messages()) == sorted([long_text, tricky])


async def test_statuses_apply_monotonically_and_failures_carry_the_reason(platform: Platform) -> None:
    sent = await platform.outbound(ChannelKind.WHATSAPP, "wamid.out1", CONTACT, DeliveryStatus.SENT)
    other = await platform.outbound(ChannelKind.WHATSAPP, "wamid.out2", CONTACT, DeliveryStatus.SENT)
    read = await platform.deliver(
        ChannelKind.WHATSAPP, wa_webhook(wa_value(statuses=[wa_status("wamid.out1", "read")]))
    )
    late = await platform.deliver(
        ChannelKind.WHATSAPP, wa_webhook(wa_value(statuses=[wa_status("wamid.out1", "delivered")]))
    )
    failure = wa_status(
        "wamid.out2",
        "failed",
        errors=[{"code": 131047, "title": "Re-engagement message", "error_data": {"details": "24h"}}],
    )
    failed = await platform.deliver(ChannelKind.WHATSAPP, wa_webhook(wa_value(statuses=[failure])))
    unknown = await platform.deliver(
        ChannelKind.WHATSAPP, wa_webhook(wa_value(statuses=[wa_status("wamid.nobody", "sent")]))
    )
    assert [r.outcome for r in read + late + failed + unknown] == [
        "status_applied",
        "stale_status",
        "status_applied",
        "ignored: unknown message",
    ]
    by_id = {message.id: message for message in await platform.messages()}
    assert by_id[sent.id].status is DeliveryStatus.READ
    assert by_id[other.id].status is DeliveryStatus.FAILED
    assert by_id[other.id].error is not None
    assert (by_id[other.id].error.code, by_id[other.id].error.title) == ("131047", "Re-engagement message")
    assert [e["data"]["status"] for e in await platform.events("message.status")] == ["read"]
    [failed_event] = await platform.events("message.failed")
    assert failed_event["data"]["error"]["code"] == "131047"


async def test_whatsapp_media_is_downloaded_into_storage_and_linked(platform: Platform, graph: FakeGraphApi) -> None:
    graph.add_media("media-9", b"\xff\xd8\xffjpeg", "image/jpeg")
    image = {"id": "media-9", "mime_type": "image/jpeg", "sha256": "x", "caption": "receipt"}
    missing = {"id": "media-gone", "mime_type": "audio/ogg", "sha256": "y"}
    await platform.deliver(
        ChannelKind.WHATSAPP,
        wa_webhook(
            wa_value(messages=[wa_message("image", image, wamid="w.img"), wa_message("audio", missing, wamid="w.aud")])
        ),
    )
    stored = {message.provider_message_id: message for message in await platform.messages()}
    media = stored["w.img"].content["media"][0]
    assert stored["w.img"].text == "receipt"
    assert media["blob_key"].startswith(f"{platform.tenant_id}/media/")
    assert media["size"] == 7
    storage = await platform.container.get(BlobStorage)
    assert await storage.get(media["blob_key"]) == b"\xff\xd8\xffjpeg"
    # A file that cannot be fetched leaves the message in place, with the reason recorded.
    assert "error" in stored["w.aud"].content["media"][0]


async def test_media_of_the_wrong_type_is_not_stored(platform: Platform, graph: FakeGraphApi) -> None:
    graph.add_media("media-x", b"MZ\x90\x00", "application/x-msdownload")
    await platform.deliver(
        ChannelKind.WHATSAPP,
        wa_webhook(wa_value(messages=[wa_message("image", {"id": "media-x", "mime_type": "image/jpeg"})])),
    )
    [message] = await platform.messages()
    assert message.content["media"][0]["error"] == "unexpected content type application/x-msdownload"


async def test_messenger_attachment_is_fetched_from_its_url(platform: Platform, graph: FakeGraphApi) -> None:
    url = graph.add_cdn_file("photo.png", b"\x89PNG....", "image/png")
    await platform.deliver(
        ChannelKind.MESSENGER,
        fb_webhook(fb_event(message={"mid": "m_img", "attachments": [{"type": "image", "payload": {"url": url}}]})),
    )
    [message] = await platform.messages()
    storage = await platform.container.get(BlobStorage)
    assert await storage.get(message.content["media"][0]["blob_key"]) == b"\x89PNG...."


async def test_unsupported_and_reactions_are_stored_without_asking_for_a_turn(platform: Platform) -> None:
    results = await platform.deliver(
        ChannelKind.WHATSAPP,
        wa_webhook(
            wa_value(
                messages=[
                    wa_message("hologram", {"frames": 3}, wamid="w.holo"),
                    wa_message("reaction", {"message_id": "wamid.out1", "emoji": "👍"}, wamid="w.react"),
                ]
            )
        ),
    )
    stored = {message.provider_message_id: message for message in await platform.messages()}
    assert stored["w.holo"].type is MessageType.UNSUPPORTED
    assert stored["w.holo"].content["raw"]["hologram"] == {"frames": 3}
    assert stored["w.react"].type is MessageType.REACTION
    assert len(await platform.events("message.reaction")) == 1
    assert [result.answer_now for result in results] == [None, None]
    assert await platform.db.fetchval("SELECT count(*) FROM outbox WHERE type = 'conversation.turn'") == 0


async def test_messenger_echoes_of_our_sends_are_ignored_and_page_inbox_replies_recorded(platform: Platform) -> None:
    def echo(mid: str, **extra: Any) -> dict[str, Any]:
        message = {"mid": mid, "is_echo": True, "app_id": 1, "text": "from the page", **extra}
        return {"sender": {"id": PAGE_ID}, "recipient": {"id": PSID}, "timestamp": 1764079200000, "message": message}

    results = await platform.deliver(
        ChannelKind.MESSENGER, fb_webhook(echo("m_ours", metadata="metachat"), echo("m_human"))
    )
    assert [r.outcome for r in results] == ["ignored: echo of our own send", "agent_echo_stored"]
    [message] = await platform.messages()
    assert (message.direction, message.sender, message.text) == (Direction.OUTBOUND, SenderRole.AGENT, "from the page")
    assert await platform.db.fetchval("SELECT count(*) FROM outbox WHERE type = 'conversation.turn'") == 0


async def test_messenger_read_watermark_marks_earlier_replies_read(platform: Platform) -> None:
    earlier = await platform.outbound(ChannelKind.MESSENGER, "m_out1", PSID, DeliveryStatus.SENT)
    results = await platform.deliver(
        ChannelKind.MESSENGER, fb_webhook(fb_event(read={"watermark": int(datetime.now(UTC).timestamp() * 1000)}))
    )
    assert [r.outcome for r in results] == ["watermark_applied:1"]
    [message] = [m for m in await platform.messages() if m.id == earlier.id]
    assert message.status is DeliveryStatus.READ


async def test_events_of_an_inactive_channel_are_ignored(platform: Platform, client: Client) -> None:
    channel_id = platform.channel_ids[ChannelKind.WHATSAPP]
    response = await client.put(
        f"/api/tenants/{platform.tenant_id}/channels/{channel_id}",
        json={"name": "Support", "config": {"phone_number_id": PHONE_NUMBER_ID}, "active": False},
    )
    assert response.status_code == 200
    results = await platform.deliver(
        ChannelKind.WHATSAPP, wa_webhook(wa_value(messages=[wa_message("text", {"body": "hi"})]))
    )
    assert [r.outcome for r in results] == ["ignored: the channel is inactive or gone"]
    assert await platform.messages() == []
