"""Sending one stored outbound message (a bot answer or an agent's reply of any kind) through its channel.

Before anything goes to WhatsApp or Messenger the 24-hour customer-service window is checked. A template
goes out any time. Outside the window a text becomes the tenant's WhatsApp re-engagement template, or —
with none configured, and always on Messenger — is recorded as failed with the reason, rather than
attempting a free-form send Meta is bound to refuse. Media, buttons and reactions are recorded failed
outside the window: swapping a picture or a 👍 for a generic "please write back" template is not what the
sender asked for; they can send a template themselves."""

from __future__ import annotations

from datetime import datetime

from application.conversations.outbound_content import sendable
from application.conversations.views import message_event
from application.ports.channel_gateway import (
    ChannelGateway,
    ChannelSendError,
    InteractiveMessage,
    OutboundMedia,
    TemplateMessage,
)
from application.ports.delivery_outcomes import DeliveryOutcomes
from domain.channels.channel import Channel, ChannelKind
from domain.conversations.citations import Citation, with_footnotes
from domain.conversations.conversation import Conversation
from domain.conversations.message import DeliveryStatus, Message, MessageError, MessageType
from domain.conversations.phrases import Phrase, phrase
from domain.tenants.tenant import TenantSettings

WINDOW_CLOSED = MessageError(
    code="window_closed",
    title="outside the 24-hour customer-service window",
    details="only templates may be sent now (WhatsApp: set whatsapp_reengagement_template)",
    retryable=False,
)
# Meta's 24-hour window applies to free-form messages on these channels; WhatsApp alone has templates.
_WINDOWED = frozenset({ChannelKind.WHATSAPP, ChannelKind.MESSENGER})


def goes_as_it_is(message: Message, conversation: Conversation, channel: Channel, now: datetime) -> bool:
    """Whether the window lets the message go unchanged (fit_to_window leaves it)."""
    return message.type is MessageType.TEMPLATE or channel.kind not in _WINDOWED or conversation.window_open_at(now)


def fit_to_window(
    message: Message, conversation: Conversation, channel: Channel, settings: TenantSettings, now: datetime
) -> None:
    """Turn a pending text into the re-engagement template, or anything but a template into a failure,
    when the window is shut."""
    if goes_as_it_is(message, conversation, channel, now):
        return
    reengage = message.type is MessageType.TEXT and channel.kind is ChannelKind.WHATSAPP
    if not reengage or not settings.whatsapp_reengagement_template:
        message.status = DeliveryStatus.FAILED
        message.error = WINDOW_CLOSED
        return
    message.content = {
        **message.content,
        "template": settings.whatsapp_reengagement_template,
        "template_language": settings.whatsapp_template_language,
        # What would have been said inside the window; the template invites the user back instead.
        "withheld_text": message.text,
    }
    message.type = MessageType.TEMPLATE
    message.text = ""


def rendered_text(message: Message, channel: Channel, language: str) -> str:
    """The text as the channel shows it: WhatsApp and Messenger get numbered footnotes with document
    titles; the web chat widget renders the citations as links itself."""
    citations = [Citation.from_dict(raw) for raw in message.content.get("citations", [])]
    if channel.kind is ChannelKind.WEBCHAT or not citations:
        return message.text
    return with_footnotes(message.text, citations, phrase(Phrase.SOURCES, language))


async def send_and_record(
    gateway: ChannelGateway,
    outcomes: DeliveryOutcomes,
    channel: Channel,
    conversation: Conversation,
    message: Message,
    language: str,
) -> None:
    """Send a pending message, then record what became of it, with its message.sent or message.failed event."""
    await send(gateway, channel, conversation, message, language)
    await outcomes.record(message, message_event(message, conversation.contact_id))


async def send(
    gateway: ChannelGateway, channel: Channel, conversation: Conversation, message: Message, language: str
) -> None:
    """Send a pending message and record the outcome on it (status, provider id or error)."""
    if message.status is not DeliveryStatus.PENDING:
        return
    to = conversation.contact_id
    content = sendable(message)
    try:
        if isinstance(content, str):
            provider_ids = await gateway.send_text(channel, to, rendered_text(message, channel, language))
        elif isinstance(content, TemplateMessage):
            provider_ids = [await gateway.send_template(channel, to, content)]
        elif isinstance(content, OutboundMedia):
            provider_ids = [await gateway.send_media(channel, to, content)]
        elif isinstance(content, InteractiveMessage):
            provider_ids = [await gateway.send_interactive(channel, to, content)]
        else:
            provider_ids = [await gateway.send_reaction(channel, to, content.provider_message_id, content.emoji)]
    except ChannelSendError as error:
        message.apply_status(DeliveryStatus.FAILED, error.as_message_error())
        return
    # A long text may go out in several parts; statuses are tracked on the first. A Messenger reaction
    # has no id of its own ("").
    message.provider_message_id = (provider_ids[0] or None) if provider_ids else None
    message.apply_status(DeliveryStatus.SENT)
