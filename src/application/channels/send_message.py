"""Send one reply to a conversation's contact and record it: stored before the provider is called (so
statuses find it), marked sent with the provider id, or failed with the provider's reason."""

from __future__ import annotations

import attrs

from application.errors import NotFound
from application.ports.channel_gateway import (
    ChannelGateway,
    ChannelSendError,
    InteractiveMessage,
    OutboundMedia,
    SendFailure,
    TemplateMessage,
)
from application.ports.clock import Clock
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.channels.channel import Channel, ChannelKind
from domain.common.ids import ConversationId, MessageId, TenantId, new_id
from domain.conversations.conversation import Conversation
from domain.conversations.message import DeliveryStatus, Direction, Message, MessageError, MessageType, SenderRole
from domain.conversations.splitting import split_text
from domain.events import Event, EventType

# Channels where Meta's 24-hour customer-service window applies to free-form messages.
_WINDOWED_KINDS = frozenset({ChannelKind.WHATSAPP, ChannelKind.MESSENGER})


@attrs.frozen
class OutboundText:
    text: str


@attrs.frozen
class OutboundReaction:
    message_id: str
    emoji: str


OutboundContent = OutboundText | OutboundMedia | InteractiveMessage | TemplateMessage | OutboundReaction


@attrs.frozen
class SendMessageInput:
    tenant_id: TenantId
    conversation_id: ConversationId
    content: OutboundContent
    # Same key, same reply: a retried task never sends twice what already went out.
    idempotency_key: str
    sender: SenderRole = SenderRole.BOT
    reply_to: str | None = None


@attrs.frozen
class SendMessageResult:
    message_ids: list[MessageId]
    provider_message_ids: list[str]
    status: DeliveryStatus
    error: MessageError | None = None


class SendMessage:
    """Raises ChannelSendError only for retryable failures (after the adapter's own retries): the task
    runs again later and resumes with the parts still pending. Permanent failures are recorded."""

    def __init__(self, uow_factory: UnitOfWorkFactory, gateway: ChannelGateway, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._gateway = gateway
        self._clock = clock

    async def execute(self, data: SendMessageInput) -> SendMessageResult:
        async with self._uow_factory(data.tenant_id) as uow:
            conversation = await uow.conversations.get(data.tenant_id, data.conversation_id)
            channel = None if conversation is None else await uow.channels.get(data.tenant_id, conversation.channel_id)
            if conversation is None or channel is None:
                raise NotFound("conversation not found")
            parts = await self._parts(data, conversation, channel)
            for message in parts:
                if await uow.messages.find_by_idempotency_key(data.tenant_id, message.idempotency_key or "") is None:
                    await uow.messages.add(message)
            # Re-read: an earlier run may have sent some parts already.
            stored = [
                await uow.messages.find_by_idempotency_key(data.tenant_id, m.idempotency_key or "") for m in parts
            ]
            await uow.commit()
        messages = [message for message in stored if message is not None]
        pending = [message for message in messages if message.status is DeliveryStatus.PENDING]
        needs_window = channel.kind in _WINDOWED_KINDS and not isinstance(data.content, TemplateMessage)
        if pending and needs_window and not conversation.window_open_at(self._clock.now()):
            closed = ChannelSendError(
                SendFailure.WINDOW_CLOSED,
                code="window_closed",
                title="the 24-hour customer service window is closed: only templates can be sent",
            )
            return await self._fail(data.tenant_id, conversation, pending, closed)
        for index, message in enumerate(messages):
            if message.status is not DeliveryStatus.PENDING:
                continue
            try:
                provider_id = await self._send(channel, conversation.contact_id, data, message, first=index == 0)
            except ChannelSendError as error:
                if error.retryable:
                    raise
                return await self._fail(data.tenant_id, conversation, messages[index:], error)
            message.provider_message_id = provider_id
            message.apply_status(DeliveryStatus.SENT)
            async with self._uow_factory(data.tenant_id) as uow:
                await uow.messages.update_delivery(message)
                await uow.outbox.add([_event(EventType.MESSAGE_SENT, message, conversation)])
                await uow.commit()
        return _result(messages)

    async def _parts(self, data: SendMessageInput, conversation: Conversation, channel: Channel) -> list[Message]:
        content = data.content
        if isinstance(content, OutboundText):
            texts = split_text(content.text, self._gateway.max_text_length(channel.kind)) or [""]
            kinds = [MessageType.TEXT] * len(texts)
        else:
            texts, kinds = [_describe(content)], [_type_of(content)]
        return [
            Message(
                id=MessageId(new_id()),
                tenant_id=data.tenant_id,
                conversation_id=conversation.id,
                channel_id=channel.id,
                direction=Direction.OUTBOUND,
                sender=data.sender,
                type=kind,
                text=text,
                content={} if isinstance(content, OutboundText) else {"outbound": attrs.asdict(content)},
                reply_to_provider_id=data.reply_to if index == 0 else None,
                status=DeliveryStatus.PENDING,
                idempotency_key=f"{data.idempotency_key}#{index}",
            )
            for index, (text, kind) in enumerate(zip(texts, kinds, strict=True))
        ]

    async def _send(self, channel: Channel, to: str, data: SendMessageInput, message: Message, *, first: bool) -> str:
        content = data.content
        reply_to = data.reply_to if first else None
        if isinstance(content, OutboundText):
            return (await self._gateway.send_text(channel, to, message.text, reply_to))[0]
        if isinstance(content, OutboundMedia):
            return await self._gateway.send_media(channel, to, content, reply_to)
        if isinstance(content, InteractiveMessage):
            return await self._gateway.send_interactive(channel, to, content, reply_to)
        if isinstance(content, TemplateMessage):
            return await self._gateway.send_template(channel, to, content)
        return await self._gateway.send_reaction(channel, to, content.message_id, content.emoji)

    async def _fail(
        self, tenant_id: TenantId, conversation: Conversation, messages: list[Message], error: ChannelSendError
    ) -> SendMessageResult:
        reason = error.as_message_error()
        async with self._uow_factory(tenant_id) as uow:
            events = []
            for message in messages:
                if message.apply_status(DeliveryStatus.FAILED, reason):
                    await uow.messages.update_delivery(message)
                    events.append(_event(EventType.MESSAGE_FAILED, message, conversation))
            await uow.outbox.add(events)
            await uow.commit()
        return _result(messages)


def _describe(content: OutboundContent) -> str:
    if isinstance(content, OutboundMedia):
        return content.caption
    if isinstance(content, InteractiveMessage):
        return content.body
    if isinstance(content, OutboundReaction):
        return content.emoji
    return ""


def _type_of(content: OutboundContent) -> MessageType:
    if isinstance(content, OutboundMedia):
        return content.type
    if isinstance(content, InteractiveMessage):
        return MessageType.INTERACTIVE_REPLY
    if isinstance(content, TemplateMessage):
        return MessageType.TEMPLATE
    return MessageType.REACTION


def _result(messages: list[Message]) -> SendMessageResult:
    failed = next((m for m in messages if m.status is DeliveryStatus.FAILED), None)
    return SendMessageResult(
        message_ids=[m.id for m in messages],
        provider_message_ids=[m.provider_message_id for m in messages if m.provider_message_id],
        status=DeliveryStatus.FAILED if failed else messages[-1].status,
        error=None if failed is None else failed.error,
    )


def _event(event_type: str, message: Message, conversation: Conversation) -> Event:
    data: dict[str, object] = {
        "message_id": str(message.id),
        "conversation_id": str(conversation.id),
        "channel_id": str(message.channel_id),
        "contact_id": conversation.contact_id,
        "type": str(message.type),
        "text": message.text,
        "provider_message_id": message.provider_message_id,
        "status": str(message.status),
    }
    if message.error is not None:
        data["error"] = attrs.asdict(message.error)
    return Event(
        type=event_type, tenant_id=message.tenant_id, aggregate_key=f"conversation:{conversation.id}", data=data
    )
