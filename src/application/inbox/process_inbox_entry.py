"""Worker side of the inbox: turn one stored provider event into conversation state, exactly once."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import attrs

from application.channels.channel_registry import ChannelRegistry
from application.conversations.handle_conversation_turn import ConversationTurnInput, HeldRows
from application.conversations.inbound import record_inbound
from application.inbox.inbox_writer import ordering_key
from application.ports.blob_storage import BlobStorage
from application.ports.channel_adapters import MediaUnavailable
from application.ports.messaging_repositories import LockedInboxEntry
from application.ports.tasks import Task
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from domain.channels.channel import Channel
from domain.channels.inbound import (
    EchoReport,
    IgnoredEvent,
    InboundMessage,
    MediaRef,
    NormalisedEvent,
    StatusReport,
    WatermarkReport,
)
from domain.channels.inbox import InboxEntry
from domain.common.ids import ConversationId, MessageId, TenantId, new_id
from domain.conversations.conversation import Conversation
from domain.conversations.message import (
    CONVERSATIONAL_TYPES,
    DeliveryStatus,
    Direction,
    Message,
    MessageType,
    SenderRole,
)
from domain.events import Event, EventType

logger = logging.getLogger(__name__)

TURN_TASK = "conversation.turn"

# Per-type ceilings from the WhatsApp media reference; Messenger files stay under the same ones.
_MEDIA_MAX_BYTES = {
    MessageType.IMAGE: 5 * 1024 * 1024,
    MessageType.STICKER: 500 * 1024,
    MessageType.AUDIO: 16 * 1024 * 1024,
    MessageType.VIDEO: 16 * 1024 * 1024,
    MessageType.DOCUMENT: 100 * 1024 * 1024,
}
_MEDIA_FAMILY = {
    MessageType.IMAGE: "image/",
    MessageType.STICKER: "image/",
    MessageType.AUDIO: "audio/",
    MessageType.VIDEO: "video/",
}
_UNREAD_OUTBOUND = frozenset({DeliveryStatus.PENDING, DeliveryStatus.SENT, DeliveryStatus.DELIVERED})


# Reads what a turn needs, in the given transaction (the conversation engine's `HandleConversationTurn.load`),
# given the turn's rows that transaction holds already, when it has them.
TurnReader = Callable[[UnitOfWork, ConversationTurnInput, HeldRows | None], Awaitable[None]]


@attrs.frozen
class ProcessInboxEntryInput:
    tenant_id: TenantId
    inbox_id: uuid.UUID


@attrs.frozen
class ProcessInboxEntryResult:
    # "message_stored", "status_applied", "ignored: <reason>", "already_processed", …
    outcome: str
    message_id: MessageId | None = None
    # The turn to run at once, in the same task (see `_answer_or_queue`).
    answer_now: ConversationTurnInput | None = None
    # The turn's rows as the transaction that stored the message left them, for `TurnReader` in it.
    held: HeldRows | None = attrs.field(default=None, eq=False, repr=False)


class ProcessInboxEntry:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        channels: ChannelRegistry,
        storage: BlobStorage,
        max_media_bytes: int,
    ) -> None:
        self._uow_factory = uow_factory
        self._channels = channels
        self._storage = storage
        self._max_media_bytes = max_media_bytes

    async def execute(
        self, data: ProcessInboxEntryInput, read_turn: TurnReader | None = None
    ) -> ProcessInboxEntryResult:
        """`read_turn` runs in the transaction that decided to answer now (see `answer_now`), just before
        its commit, for the caller to read the turn's inputs there."""
        processed = await self._process(data, read_turn, older_first=True)
        if isinstance(processed, ProcessInboxEntryResult):
            return processed
        # The contact's earlier events are still waiting: their tasks were put back (a dependency was down) or
        # are held by a worker process that lost its partition lease. They are stored first, in arrival order;
        # their own tasks then find them done.
        for older_id in processed:
            try:
                await self._process(ProcessInboxEntryInput(data.tenant_id, older_id), None, older_first=False)
            except Exception:
                # Its own task retries it (and dead-letters it in the end); this event does not wait for it.
                logger.warning(
                    "an earlier event of the contact failed", extra={"inbox_id": str(older_id)}, exc_info=True
                )
        result = await self._process(data, read_turn, older_first=False)
        assert isinstance(result, ProcessInboxEntryResult), "older events are handled only once"
        return result

    async def _process(
        self, data: ProcessInboxEntryInput, read_turn: TurnReader | None, *, older_first: bool
    ) -> ProcessInboxEntryResult | tuple[uuid.UUID, ...]:
        """The entry processed, or (with `older_first`) the contact's earlier events still waiting, if any,
        with nothing done."""
        async with self._uow_factory(data.tenant_id) as uow:
            # Locked: a concurrent run of the same task waits here, then sees the entry done.
            locked = await uow.inbox.lock(data.tenant_id, data.inbox_id)
            if locked is None:
                return ProcessInboxEntryResult("not_found")
            entry, channel = locked.entry, locked.channel
            if entry.done:
                return await self._redelivered(uow, locked, read_turn)
            if older_first and locked.older_pending:
                return locked.older_pending
            event: NormalisedEvent
            if channel is None or not channel.active:
                event = IgnoredEvent("the channel is inactive or gone")
            else:
                event = self._channels.inbound(channel.kind).normalize(entry.payload, entry.received_at)
            if not (isinstance(event, InboundMessage) and channel is not None and event.media):
                # Nothing to fetch: one transaction does it all.
                return await self._finish(uow, locked, channel, event, [], read_turn)
        # Downloads happen outside the transaction: a slow CDN must not hold row locks.
        media = [await self._download(channel, entry, event, index, ref) for index, ref in enumerate(event.media)]
        async with self._uow_factory(data.tenant_id) as uow:
            # Locked re-read: a concurrent run of the same task waits here, then sees the entry done.
            relocked = await uow.inbox.lock(data.tenant_id, data.inbox_id)
            if relocked is None or relocked.entry.done:
                return ProcessInboxEntryResult("already_processed")
            return await self._finish(uow, relocked, channel, event, media, read_turn)

    async def _finish(
        self,
        uow: UnitOfWork,
        locked: LockedInboxEntry,
        channel: Channel | None,
        event: NormalisedEvent,
        media: list[dict[str, Any]],
        read_turn: TurnReader | None,
    ) -> ProcessInboxEntryResult:
        entry = locked.entry
        result = await self._apply(
            uow,
            entry,
            channel,
            event,
            media,
            others_pending=locked.others_pending,
            contact_conversation=locked.conversation,
        )
        await uow.inbox.finish(entry)
        if result.answer_now is not None and read_turn is not None:
            await read_turn(uow, result.answer_now, result.held)
        await uow.commit()
        return result

    async def _apply(
        self,
        uow: UnitOfWork,
        entry: InboxEntry,
        channel: Channel | None,
        event: NormalisedEvent,
        media: list[dict[str, Any]],
        *,
        others_pending: bool,
        contact_conversation: Conversation | None,
    ) -> ProcessInboxEntryResult:
        if channel is None or isinstance(event, IgnoredEvent):
            reason = event.reason if isinstance(event, IgnoredEvent) else "the channel is gone"
            entry.mark_ignored(reason)
            return ProcessInboxEntryResult(f"ignored: {reason}")
        if isinstance(event, InboundMessage):
            return await self._store_inbound(
                uow, entry, channel, event, media, others_pending=others_pending, locked=contact_conversation
            )
        if isinstance(event, StatusReport):
            return await self._apply_status(uow, entry, event)
        if isinstance(event, WatermarkReport):
            return await self._apply_watermark(uow, entry, event)
        return await self._handle_echo(uow, entry, channel, event, contact_conversation)

    async def _store_inbound(
        self,
        uow: UnitOfWork,
        entry: InboxEntry,
        channel: Channel,
        event: InboundMessage,
        media: list[dict[str, Any]],
        *,
        others_pending: bool,
        locked: Conversation | None,
    ) -> ProcessInboxEntryResult:
        conversation, events = await self._conversation(
            uow, entry, event.contact_id, event.contact_name, locked, inbound_at=event.occurred_at
        )
        content = dict(event.content)
        if media:
            content["media"] = media
        message = Message(
            id=MessageId(new_id()),
            tenant_id=entry.tenant_id,
            conversation_id=conversation.id,
            channel_id=channel.id,
            direction=Direction.INBOUND,
            sender=SenderRole.CONTACT,
            type=event.type,
            text=event.text,
            content=content,
            provider_message_id=event.provider_message_id or None,
            reply_to_provider_id=event.reply_to_provider_id,
            status=DeliveryStatus.RECEIVED,
            occurred_at=event.occurred_at,
        )
        # Nothing here reads the message back (the turn read is handed it), so its write rides on that read.
        await uow.messages.stage(message)
        event_type = EventType.MESSAGE_REACTION if event.type is MessageType.REACTION else EventType.MESSAGE_RECEIVED
        events.append(_message_event(event_type, message, contact_id=conversation.contact_id))
        await uow.outbox.add(events)
        answer_now = (
            await self._answer_or_queue(uow, entry, message, others_pending)
            if event.type in CONVERSATIONAL_TYPES
            else None
        )
        entry.mark_processed("message_stored", message.id)
        # The conversation as just written (every column of it), the channel as read and the message as staged,
        # all in this transaction.
        held = HeldRows(conversation, channel, message) if answer_now is not None else None
        return ProcessInboxEntryResult("message_stored", message.id, answer_now, held)

    async def _answer_or_queue(
        self, uow: UnitOfWork, entry: InboxEntry, message: Message, others_pending: bool
    ) -> ConversationTurnInput | None:
        """The conversation engine answers the message: at once, in this task, when nothing else of the
        contact is waiting (a RabbitMQ hop less per message); behind the waiting events otherwise, as a
        conversation.turn task, so that a burst gets one reply that saw all of it. Ordering holds either
        way: the turn runs in the contact's ordering key. Whether others wait was read with the entry's lock
        (no round trip of its own); an event stored after that read gets a turn of its own."""
        turn = ConversationTurnInput(entry.tenant_id, message.conversation_id, message.id)
        if not others_pending:
            return turn
        # The conversation engine answers; its handler is registered under this task name.
        await uow.outbox.add_tasks(
            [
                Task(
                    name=TURN_TASK,
                    tenant_id=entry.tenant_id,
                    payload={"message_id": str(turn.message_id), "conversation_id": str(turn.conversation_id)},
                    ordering_key=ordering_key(entry),
                )
            ]
        )
        return None

    async def _redelivered(
        self, uow: UnitOfWork, locked: LockedInboxEntry, read_turn: TurnReader | None
    ) -> ProcessInboxEntryResult:
        """A task run again after its entry was processed: the worker may have stopped before the answer
        went out, so the turn is due again (the turn itself makes sure nothing is answered twice)."""
        entry = locked.entry
        message = None
        if entry.outcome == "message_stored" and entry.message_id is not None:
            message = await uow.messages.get(entry.tenant_id, entry.message_id)
        if message is None or message.type not in CONVERSATIONAL_TYPES:
            return ProcessInboxEntryResult("already_processed", entry.message_id)
        answer_now = await self._answer_or_queue(uow, entry, message, locked.others_pending)
        if answer_now is not None and read_turn is not None:
            await read_turn(uow, answer_now, None)
        await uow.commit()
        return ProcessInboxEntryResult("already_processed", entry.message_id, answer_now)

    async def _conversation(
        self,
        uow: UnitOfWork,
        entry: InboxEntry,
        contact_id: str,
        contact_name: str,
        locked: Conversation | None,
        *,
        inbound_at: datetime | None = None,
    ) -> tuple[Conversation, list[Event]]:
        """The contact's conversation, with a message from them at `inbound_at` recorded on it when given.
        `locked`: the conversation the entry's lock read for its contact."""
        if locked is not None and (locked.channel_id, locked.contact_id) != (entry.channel_id, contact_id):
            locked = None  # the event's contact is not the one the entry was stored under
        candidate = Conversation(
            id=ConversationId(new_id()),
            tenant_id=entry.tenant_id,
            channel_id=entry.channel_id,
            contact_id=contact_id,
            contact_name=contact_name,
        )
        if inbound_at is not None:
            conversation, created = await record_inbound(uow, candidate, inbound_at, locked=locked)
        elif locked is not None:
            conversation, created = locked, False
        else:
            conversation, created = await uow.conversations.get_or_add(candidate)
        events = []
        if created:
            events.append(
                Event(
                    type=EventType.CONVERSATION_CREATED,
                    tenant_id=entry.tenant_id,
                    aggregate_key=f"conversation:{conversation.id}",
                    data={
                        "conversation_id": str(conversation.id),
                        "channel_id": str(conversation.channel_id),
                        "contact_id": conversation.contact_id,
                        "contact_name": conversation.contact_name,
                    },
                )
            )
        return conversation, events

    async def _apply_status(self, uow: UnitOfWork, entry: InboxEntry, report: StatusReport) -> ProcessInboxEntryResult:
        message = await uow.messages.find_by_provider_id(entry.tenant_id, entry.channel_id, report.provider_message_id)
        if message is None:
            entry.mark_ignored("status for a message this platform did not record")
            return ProcessInboxEntryResult("ignored: unknown message")
        if not message.apply_status(report.status, report.error):
            # Late or repeated (a "delivered" after "read"): statuses never move backwards.
            entry.mark_processed("stale_status", message.id)
            return ProcessInboxEntryResult("stale_status", message.id)
        await uow.messages.update_delivery(message)
        await uow.outbox.add([_status_event(message)])
        entry.mark_processed("status_applied", message.id)
        return ProcessInboxEntryResult("status_applied", message.id)

    async def _apply_watermark(
        self, uow: UnitOfWork, entry: InboxEntry, report: WatermarkReport
    ) -> ProcessInboxEntryResult:
        conversation = await uow.conversations.find(entry.tenant_id, entry.channel_id, report.contact_id)
        if conversation is None:
            entry.mark_ignored("watermark for a contact without a conversation")
            return ProcessInboxEntryResult("ignored: unknown conversation")
        candidates = {
            message.id: message
            for message in await uow.messages.outbound_before(
                entry.tenant_id, conversation.id, report.watermark, _UNREAD_OUTBOUND
            )
        }
        for provider_id in report.provider_message_ids:
            listed = await uow.messages.find_by_provider_id(entry.tenant_id, entry.channel_id, provider_id)
            if listed is not None:
                candidates.setdefault(listed.id, listed)
        events = []
        for message in candidates.values():
            if message.status is DeliveryStatus.PENDING or not message.apply_status(report.status):
                continue
            await uow.messages.update_delivery(message)
            events.append(_status_event(message))
        await uow.outbox.add(events)
        entry.mark_processed(f"watermark_applied:{len(events)}")
        return ProcessInboxEntryResult(f"watermark_applied:{len(events)}")

    async def _handle_echo(
        self, uow: UnitOfWork, entry: InboxEntry, channel: Channel, echo: EchoReport, locked: Conversation | None
    ) -> ProcessInboxEntryResult:
        if echo.sent_by_platform or await uow.messages.find_by_provider_id(
            entry.tenant_id, entry.channel_id, echo.provider_message_id
        ):
            entry.mark_ignored("echo of our own send")
            return ProcessInboxEntryResult("ignored: echo of our own send")
        # Typed by a person in the Page inbox: the contact saw it, so the conversation keeps it.
        conversation, events = await self._conversation(uow, entry, echo.contact_id, "", locked)
        message = Message(
            id=MessageId(new_id()),
            tenant_id=entry.tenant_id,
            conversation_id=conversation.id,
            channel_id=channel.id,
            direction=Direction.OUTBOUND,
            sender=SenderRole.AGENT,
            type=MessageType.TEXT if echo.text else MessageType.UNSUPPORTED,
            text=echo.text,
            content=echo.content,
            provider_message_id=echo.provider_message_id or None,
            status=DeliveryStatus.SENT,
            occurred_at=echo.occurred_at,
        )
        await uow.messages.add(message)
        events.append(_message_event(EventType.MESSAGE_SENT, message, contact_id=conversation.contact_id))
        await uow.outbox.add(events)
        entry.mark_processed("agent_echo_stored", message.id)
        return ProcessInboxEntryResult("agent_echo_stored", message.id)

    async def _download(
        self, channel: Channel, entry: InboxEntry, event: InboundMessage, index: int, ref: MediaRef
    ) -> dict[str, Any]:
        described: dict[str, Any] = {
            "type": str(ref.type),
            "provider_media_id": ref.provider_media_id,
            "mime_type": ref.mime_type,
            "sha256": ref.sha256,
            "filename": ref.filename,
        }
        limit = min(self._max_media_bytes, _MEDIA_MAX_BYTES.get(ref.type, self._max_media_bytes))
        try:
            fetched = await self._channels.inbound(channel.kind).fetch_media(channel, ref, limit)
        except MediaUnavailable as error:
            # The message is kept either way; what went wrong with its file is recorded on it.
            logger.warning("inbound media not stored", extra={"reason": error.message, "inbox_id": str(entry.id)})
            return described | {"error": error.message}
        family = _MEDIA_FAMILY.get(ref.type)
        if family is not None and not fetched.mime_type.startswith(family):
            return described | {"error": f"unexpected content type {fetched.mime_type}"}
        key_source = f"{event.provider_message_id}:{index}".encode()
        key = f"{entry.tenant_id}/media/{channel.id}/{hashlib.sha256(key_source).hexdigest()[:32]}"
        stored = await self._storage.put(key, fetched.data, fetched.mime_type)
        return described | {
            "blob_key": stored.key,
            "size": stored.size,
            "mime_type": fetched.mime_type,
            "stored_sha256": stored.sha256,
        }


def _message_event(event_type: str, message: Message, *, contact_id: str) -> Event:
    return Event(
        type=event_type,
        tenant_id=message.tenant_id,
        aggregate_key=f"conversation:{message.conversation_id}",
        data={
            "message_id": str(message.id),
            "conversation_id": str(message.conversation_id),
            "channel_id": str(message.channel_id),
            "contact_id": contact_id,
            "direction": str(message.direction),
            "type": str(message.type),
            "text": message.text,
            "provider_message_id": message.provider_message_id,
            "reply_to_provider_id": message.reply_to_provider_id,
            "occurred_at": message.occurred_at.isoformat(),
        },
    )


def _status_event(message: Message) -> Event:
    failed = message.status is DeliveryStatus.FAILED
    data: dict[str, Any] = {
        "message_id": str(message.id),
        "conversation_id": str(message.conversation_id),
        "channel_id": str(message.channel_id),
        "provider_message_id": message.provider_message_id,
        "status": str(message.status),
    }
    if failed and message.error is not None:
        data["error"] = attrs.asdict(message.error)
    return Event(
        type=EventType.MESSAGE_FAILED if failed else EventType.MESSAGE_STATUS,
        tenant_id=message.tenant_id,
        aggregate_key=f"conversation:{message.conversation_id}",
        data=data,
    )
