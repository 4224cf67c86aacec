"""A person replies through the API (an agent tool, a helpdesk integration) with text, media, a WhatsApp
template, reply buttons or a list, or a reaction: the message goes out through the conversation's
channel and the conversation is theirs from then on — the bot does not answer, and an answer the bot was
still writing is dropped."""

from __future__ import annotations

import asyncio

import attrs

from application.auth import Principal
from application.conversations import delivery
from application.conversations.outbound_content import (
    AgentContent,
    OutboundReaction,
    Reaction,
    kind_name,
    stored_form,
)
from application.conversations.state_changes import hand_off
from application.conversations.views import MessageView, message_event
from application.errors import Conflict, InvalidInput, NotFound
from application.ports.channel_gateway import ChannelGateway, ChannelSendError, InteractiveMessage
from application.ports.clock import Clock
from application.ports.delivery_outcomes import DeliveryOutcomes
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from domain.channels.channel import Channel
from domain.common.ids import ConversationId, MessageId, TenantId, new_id
from domain.conversations.conversation import Conversation, ConversationState
from domain.conversations.handoff import HandoffTrigger
from domain.conversations.message import DeliveryStatus, Direction, Message, MessageType, SenderRole
from domain.tenants.api_key import Scope

MAX_AGENT_TEXT = 4096


@attrs.frozen
class SendAgentMessageInput:
    actor: Principal
    tenant_id: TenantId
    conversation_id: ConversationId
    # A str is a text message.
    content: AgentContent
    agent_name: str = ""
    # Lets a tool retry the request safely: the same id never sends twice.
    client_message_id: str | None = None


class SendAgentMessage:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, gateway: ChannelGateway, outcomes: DeliveryOutcomes, clock: Clock
    ) -> None:
        self._uow_factory = uow_factory
        self._gateway = gateway
        self._outcomes = outcomes
        self._clock = clock

    async def execute(self, data: SendAgentMessageInput) -> MessageView:
        data.actor.require(Scope.SEND, data.tenant_id)
        content = data.content
        if isinstance(content, str):
            content = content.strip()
            if not content or len(content) > MAX_AGENT_TEXT:
                raise InvalidInput(f"text must be 1 to {MAX_AGENT_TEXT} characters", details={"field": "text"})
        key = None if data.client_message_id is None else f"agent:{data.client_message_id}"
        async with self._uow_factory(data.tenant_id) as uow:
            conversation = await uow.turns.lock_conversation(data.tenant_id, data.conversation_id)
            tenant = await uow.tenants.get(data.tenant_id)
            if conversation is None or tenant is None:
                raise NotFound("conversation not found")
            if conversation.state is ConversationState.CLOSED:
                raise Conflict("the conversation is closed")
            channel = await uow.channels.get(data.tenant_id, conversation.channel_id)
            if channel is None or not channel.active:
                raise Conflict("the conversation's channel is inactive or gone")
            # Refusals come before anything is written: a refused request stores nothing, hands nothing off.
            if not self._gateway.carries(channel.kind, kind_name(content)):
                raise InvalidInput(
                    f"{channel.kind} channels cannot send {kind_name(content)} messages",
                    details={"field": kind_name(content), "channel_kind": str(channel.kind)},
                )
            if isinstance(content, InteractiveMessage):
                self._check_interactive(channel, content)
            sendable = await _reaction_target(uow, conversation, content) if isinstance(content, Reaction) else content
            message_type, text, stored = stored_form(sendable)
            message = Message(
                id=MessageId(new_id()),
                tenant_id=data.tenant_id,
                conversation_id=conversation.id,
                channel_id=channel.id,
                direction=Direction.OUTBOUND,
                sender=SenderRole.AGENT,
                type=message_type,
                text=text,
                content={**stored, "agent": data.agent_name} if data.agent_name else stored,
                status=DeliveryStatus.PENDING,
                idempotency_key=key,
            )
            # Replying takes the conversation over; the lock makes a bot answer being claimed wait or lose.
            await hand_off(uow, conversation, reason="an agent replied", trigger=HandoffTrigger.AGENT)
            conversation.record_agent_reply()
            await uow.conversations.update(conversation)
            delivery.fit_to_window(message, conversation, channel, tenant.settings, self._clock.now())
            if key is None:
                await uow.messages.add(message)
            elif not await uow.turns.add_claimed(message):
                # Sent under this key before: that message is the answer. Leaving without a commit rolls this
                # request's hand-off back (the one that stored the message handed the conversation over).
                earlier = await uow.turns.claimed_message(data.tenant_id, key)
                if earlier is None:
                    raise Conflict("a message with this client_message_id is being sent")
                return MessageView.of(earlier)
            if message.status is DeliveryStatus.FAILED:
                await uow.outbox.add([message_event(message, conversation.contact_id)])
            await uow.commit()
        if message.status is DeliveryStatus.PENDING:
            # A client hanging up mid-request must not leave a message that went out recorded as pending.
            await asyncio.shield(
                delivery.send_and_record(
                    self._gateway, self._outcomes, channel, conversation, message, tenant.settings.language
                )
            )
        return MessageView.of(message)

    def _check_interactive(self, channel: Channel, message: InteractiveMessage) -> None:
        """The channel's own limits (Messenger: 640 characters beside buttons), refused before anything is stored."""
        try:
            self._gateway.check_interactive(channel.kind, message)
        except ChannelSendError as error:
            raise InvalidInput(
                f"{error.title}: {error.details}" if error.details else error.title,
                details={"field": "interactive", "channel_kind": str(channel.kind)},
            ) from error


async def _reaction_target(uow: UnitOfWork, conversation: Conversation, reaction: Reaction) -> OutboundReaction:
    """A reaction names our id of a message of this conversation; the channel needs the provider's."""
    target = await uow.messages.get(conversation.tenant_id, reaction.message_id)
    if target is None or target.conversation_id != conversation.id:
        raise NotFound("the message reacted to is not in this conversation", details={"field": "reaction"})
    if target.type in (MessageType.REACTION, MessageType.SYSTEM) or target.provider_message_id is None:
        raise InvalidInput(
            "only a message the channel delivered can be reacted to (not a reaction, a note, "
            "or a message that was never sent)",
            details={"field": "reaction", "message_id": str(target.id)},
        )
    return OutboundReaction(target_id=target.id, provider_message_id=target.provider_message_id, emoji=reaction.emoji)
