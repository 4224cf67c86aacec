"""Messenger Platform channel (Facebook Pages): webhook side and Send API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.messenger import webhook
from adapters.meta import signature
from adapters.meta.graph_client import GraphApiClient
from application.ports.channel_adapters import FetchedMedia, MediaUnavailable, WebhookBatch
from application.ports.channel_gateway import (
    ChannelSendError,
    InteractiveMessage,
    OutboundMedia,
    SendFailure,
    TemplateMessage,
)
from domain.channels.channel import Channel, ChannelKind, MessengerConfig
from domain.channels.inbound import MediaRef, NormalisedEvent
from domain.conversations.message import MessageType

MAX_TEXT_LENGTH = 2000
# Send API: 300 calls/s per Page for text; stay below it.
PAGE_SENDS_PER_SECOND = 250.0
_ATTACHMENT_TYPE = {
    MessageType.IMAGE: "image",
    MessageType.STICKER: "image",
    MessageType.AUDIO: "audio",
    MessageType.VIDEO: "video",
    MessageType.DOCUMENT: "file",
}
_MAX_TEMPLATE_BUTTONS, _MAX_QUICK_REPLIES, _MAX_QUICK_REPLY_TITLE, _MAX_TEMPLATE_TEXT = 3, 13, 20, 640


class MessengerChannel:
    kind = ChannelKind.MESSENGER
    max_text_length = MAX_TEXT_LENGTH
    # Message templates are WhatsApp's alone.
    content_kinds = frozenset({"text", "media", "interactive", "reaction"})

    def __init__(self, graph: GraphApiClient) -> None:
        self._graph = graph

    # --- webhooks -------------------------------------------------------------------------------

    def verify_signature(self, body: bytes, header: str | None, secret: str) -> None:
        signature.verify_signature(body, header, secret)

    def split_webhook(self, body: bytes) -> WebhookBatch:
        return webhook.split_webhook(body)

    def normalize(self, payload: dict[str, Any], received_at: datetime) -> NormalisedEvent:
        return webhook.normalize(payload, received_at)

    async def fetch_media(self, channel: Channel, media: MediaRef, max_bytes: int) -> FetchedMedia:
        if media.url is None:
            raise MediaUnavailable("the attachment has no url", retryable=False)
        # Attachment URLs are signed CDN links: no token needed.
        return await self._graph.download(media.url, bearer=None, max_bytes=max_bytes)

    # --- sending --------------------------------------------------------------------------------

    async def send_text(self, channel: Channel, to: str, text: str, reply_to: str | None) -> str:
        return await self._send_message(channel, to, {"text": text}, reply_to)

    async def send_media(self, channel: Channel, to: str, media: OutboundMedia, reply_to: str | None) -> str:
        payload: dict[str, Any] = (
            {"attachment_id": media.media_id} if media.media_id else {"url": media.link, "is_reusable": True}
        )
        attachment = {"type": _ATTACHMENT_TYPE[media.type], "payload": payload}
        message_id = await self._send_message(channel, to, {"attachment": attachment}, reply_to)
        if media.caption:
            # Messenger attachments have no caption: the caption follows as its own message.
            await self._send_message(channel, to, {"text": media.caption}, None)
        return message_id

    def check_interactive(self, message: InteractiveMessage) -> None:
        if message.buttons:
            if len(message.buttons) > _MAX_TEMPLATE_BUTTONS or len(message.body) > _MAX_TEMPLATE_TEXT:
                raise _invalid("a button template holds 3 buttons and 640 characters")
        elif sum(len(section.rows) for section in message.sections) > _MAX_QUICK_REPLIES:
            raise _invalid(f"Messenger shows at most {_MAX_QUICK_REPLIES} quick replies")

    async def send_interactive(
        self, channel: Channel, to: str, message: InteractiveMessage, reply_to: str | None
    ) -> str:
        self.check_interactive(message)
        if message.buttons:
            # Reply buttons become a button template; a tap comes back as a postback carrying the id.
            attachment = {
                "type": "template",
                "payload": {
                    "template_type": "button",
                    "text": message.body,
                    "buttons": [{"type": "postback", "title": b.title, "payload": b.id} for b in message.buttons],
                },
            }
            return await self._send_message(channel, to, {"attachment": attachment}, reply_to)
        # Lists become quick replies under the body text; a tap comes back as a quick reply with the id.
        rows = [row for section in message.sections for row in section.rows]
        quick_replies = [
            {"content_type": "text", "title": row.title[:_MAX_QUICK_REPLY_TITLE], "payload": row.id} for row in rows
        ]
        return await self._send_message(channel, to, {"text": message.body, "quick_replies": quick_replies}, reply_to)

    async def send_template(self, channel: Channel, to: str, template: TemplateMessage) -> str:
        raise ChannelSendError(
            SendFailure.UNSUPPORTED, code="unsupported", title="Messenger has no WhatsApp message templates"
        )

    async def send_reaction(self, channel: Channel, to: str, message_id: str, emoji: str) -> str:
        # Sender action "react"/"unreact" on a message of the thread (reaction given as an emoji).
        action = "react" if emoji else "unreact"
        body = {
            "recipient": _recipient(to),
            "sender_action": action,
            "payload": {"message_id": message_id, "reaction": emoji} if emoji else {"message_id": message_id},
        }
        await self._post(channel, body)
        # The answer names only the recipient: a reaction has no message id of its own. Returning the
        # target's id would make its status and read receipts land on the reaction instead.
        return ""

    async def mark_read(self, channel: Channel, to: str, message_id: str) -> None:
        await self._sender_action(channel, to, "mark_seen")

    async def typing(self, channel: Channel, to: str, on: bool, message_id: str | None) -> None:
        await self._sender_action(channel, to, "typing_on" if on else "typing_off")

    async def _sender_action(self, channel: Channel, to: str, action: str) -> None:
        # Sender actions go alone: a request with both an action and a message is refused.
        await self._post(channel, {"recipient": _recipient(to), "sender_action": action})

    async def _send_message(self, channel: Channel, to: str, message: dict[str, Any], reply_to: str | None) -> str:
        body: dict[str, Any] = {
            "recipient": _recipient(to),
            "messaging_type": "RESPONSE",
            # Echoes of this message carry the marker back, so they are recognised as ours.
            "message": {**message, "metadata": webhook.ECHO_METADATA},
        }
        if reply_to:
            body["reply_to"] = {"mid": reply_to}
        response = await self._post(channel, body)
        message_id = response.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise ChannelSendError(
                SendFailure.TEMPORARY, code="no_message_id", title="the response carried no message id"
            )
        return message_id

    async def _post(self, channel: Channel, body: dict[str, Any]) -> dict[str, Any]:
        config = channel.config
        assert isinstance(config, MessengerConfig)
        token = channel.secret("page_access_token")
        if token is None:
            raise ChannelSendError(SendFailure.AUTH, code="no_token", title="the channel has no page_access_token")
        return await self._graph.post(
            "me/messages", body, access_token=token, pace=(f"messenger:{config.page_id}", PAGE_SENDS_PER_SECOND)
        )


def _recipient(to: str) -> dict[str, str]:
    if to.startswith(webhook.USER_REF_PREFIX):
        return {"user_ref": to[len(webhook.USER_REF_PREFIX) :]}
    return {"id": to}


def _invalid(details: str) -> ChannelSendError:
    return ChannelSendError(
        SendFailure.INVALID_REQUEST,
        code="invalid_interactive",
        title="interactive message over Messenger limits",
        details=details,
    )
