"""A visitor's message from the widget: stored once per client-generated id (a resend after a
reconnect changes nothing), then answered by the conversation engine through the worker."""

from __future__ import annotations

import re

import attrs

from application.conversations.inbound import record_inbound
from application.errors import Forbidden, InvalidInput, RateLimited
from application.ports.clock import Clock
from application.ports.rate_limiter import RateLimiter, RateRule
from application.ports.tasks import Task
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from application.ports.webchat import LiveEvent, LiveEventKind, LiveFanout, VisitorClaims, VisitorTopic
from domain.channels.channel import ChannelKind
from domain.channels.inbox import InboxEntry
from domain.common.ids import ConversationId, MessageId, new_id
from domain.conversations.conversation import Conversation
from domain.conversations.message import DeliveryStatus, Direction, Message, MessageType, SenderRole
from domain.events import Event, EventType

TURN_TASK = "conversation.turn"
MAX_TEXT_LENGTH = 4000
VISITOR_MESSAGES_PER_MINUTE = 20
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@attrs.frozen
class ReceiveVisitorMessageInput:
    visitor: VisitorClaims
    client_id: str
    text: str


@attrs.frozen
class VisitorMessageAccepted:
    message_id: MessageId
    conversation_id: ConversationId
    # True when this client id was stored before: nothing new was stored or queued.
    duplicate: bool


class ReceiveVisitorMessage:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, rate_limiter: RateLimiter, fanout: LiveFanout, clock: Clock
    ) -> None:
        self._uow_factory = uow_factory
        self._rate_limiter = rate_limiter
        self._fanout = fanout
        self._clock = clock

    async def execute(self, data: ReceiveVisitorMessageInput) -> VisitorMessageAccepted:
        visitor = data.visitor
        if not CLIENT_ID.match(data.client_id):
            raise InvalidInput("a message needs an id of 1 to 64 letters, digits, '-' or '_'", details={"field": "id"})
        text = data.text.strip()
        if not text or len(text) > MAX_TEXT_LENGTH:
            raise InvalidInput(f"a message has 1 to {MAX_TEXT_LENGTH} characters", details={"field": "text"})
        decision = await self._rate_limiter.hit(
            [RateRule(f"webchat:visitor:{visitor.channel_id}:{visitor.visitor_id}", VISITOR_MESSAGES_PER_MINUTE)]
        )
        if not decision.allowed:
            raise RateLimited("too many messages; wait a moment", retry_after_seconds=decision.retry_after_seconds)
        async with self._uow_factory(visitor.tenant_id) as uow:
            accepted = await self._store(uow, visitor, data.client_id, text)
            if not accepted.duplicate:
                await uow.commit()
        if not accepted.duplicate:
            # Every tab of this visitor (in any API process) shows the message, numbered.
            await self._fanout.publish(
                VisitorTopic(visitor.tenant_id, visitor.channel_id, visitor.visitor_id),
                LiveEvent(LiveEventKind.CHANGED),
            )
        return accepted

    async def _store(
        self, uow: UnitOfWork, visitor: VisitorClaims, client_id: str, text: str
    ) -> VisitorMessageAccepted:
        channel = await uow.channels.get(visitor.tenant_id, visitor.channel_id)
        if channel is None or not channel.active:
            raise Forbidden("this chat is closed", details={"reason": "inactive"})
        now = self._clock.now()
        # The visitor's own key: ids from different visitors never collide, whatever they send.
        provider_key = f"{visitor.visitor_id}:{client_id}"
        inserted = await uow.inbox.add_new(
            [
                InboxEntry(
                    id=new_id(),
                    tenant_id=visitor.tenant_id,
                    channel_id=visitor.channel_id,
                    kind=ChannelKind.WEBCHAT,
                    provider_event_key=provider_key,
                    payload={"id": client_id, "text": text},
                    contact_id=visitor.visitor_id,
                    received_at=now,
                )
            ]
        )
        if not inserted:
            existing = await uow.messages.find_by_provider_id(visitor.tenant_id, visitor.channel_id, provider_key)
            if existing is None:
                raise RuntimeError("a web chat inbox entry without its message")
            return VisitorMessageAccepted(existing.id, existing.conversation_id, duplicate=True)
        entry = inserted[0]
        candidate = Conversation(
            id=ConversationId(new_id()),
            tenant_id=visitor.tenant_id,
            channel_id=visitor.channel_id,
            contact_id=visitor.visitor_id,
        )
        conversation, created = await record_inbound(uow, candidate, now)
        message = Message(
            id=MessageId(new_id()),
            tenant_id=visitor.tenant_id,
            conversation_id=conversation.id,
            channel_id=visitor.channel_id,
            direction=Direction.INBOUND,
            sender=SenderRole.CONTACT,
            type=MessageType.TEXT,
            text=text,
            content={"client_id": client_id},
            provider_message_id=provider_key,
            status=DeliveryStatus.RECEIVED,
            created_at=now,
            occurred_at=now,
        )
        await uow.messages.add(message)
        entry.mark_processed("message_stored", message.id)
        await uow.inbox.finish(entry)
        aggregate = f"conversation:{conversation.id}"
        events = []
        if created:
            events.append(
                Event(
                    type=EventType.CONVERSATION_CREATED,
                    tenant_id=visitor.tenant_id,
                    aggregate_key=aggregate,
                    data={
                        "conversation_id": str(conversation.id),
                        "channel_id": str(conversation.channel_id),
                        "contact_id": conversation.contact_id,
                        "contact_name": conversation.contact_name,
                    },
                )
            )
        events.append(
            Event(
                type=EventType.MESSAGE_RECEIVED,
                tenant_id=visitor.tenant_id,
                aggregate_key=aggregate,
                data={
                    "message_id": str(message.id),
                    "conversation_id": str(conversation.id),
                    "channel_id": str(message.channel_id),
                    "contact_id": conversation.contact_id,
                    "direction": str(message.direction),
                    "type": str(message.type),
                    "text": message.text,
                    "provider_message_id": message.provider_message_id,
                    "reply_to_provider_id": None,
                    "occurred_at": message.occurred_at.isoformat(),
                },
            )
        )
        await uow.outbox.add(events)
        await uow.outbox.add_tasks(
            [
                Task(
                    name=TURN_TASK,
                    tenant_id=visitor.tenant_id,
                    payload={"message_id": str(message.id), "conversation_id": str(conversation.id)},
                    ordering_key=f"contact:{visitor.channel_id}:{visitor.visitor_id}",
                )
            ]
        )
        return VisitorMessageAccepted(message.id, conversation.id, duplicate=False)
