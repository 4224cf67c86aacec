"""WhatsApp Cloud API channel: webhook side (verify, split, normalise, media) and send side."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.meta import signature
from adapters.meta.graph_client import GraphApiClient, MediaUrlGone
from adapters.whatsapp import webhook
from application.ports.channel_adapters import FetchedMedia, MediaUnavailable, WebhookBatch
from application.ports.channel_gateway import (
    ChannelSendError,
    InteractiveMessage,
    OutboundMedia,
    SendFailure,
    TemplateMessage,
)
from domain.channels.channel import Channel, ChannelKind, WhatsAppConfig
from domain.channels.inbound import MediaRef, NormalisedEvent
from domain.conversations.message import MessageType

MAX_TEXT_LENGTH = 4096
_CAPTIONED = frozenset({MessageType.IMAGE, MessageType.VIDEO, MessageType.DOCUMENT})
# Interactive limits from the Cloud API reference; checked here so a bad reply fails with a clear reason.
_MAX_BUTTONS, _MAX_BUTTON_TITLE, _MAX_ROWS, _MAX_ROW_TITLE, _MAX_ROW_DESCRIPTION = 3, 20, 10, 24, 72
_MAX_INTERACTIVE_BODY, _MAX_LIST_BUTTON = 1024, 20


class WhatsAppChannel:
    kind = ChannelKind.WHATSAPP
    max_text_length = MAX_TEXT_LENGTH
    content_kinds = frozenset({"text", "media", "template", "interactive", "reaction"})

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
        token = channel.secret("access_token")
        if token is None:
            raise MediaUnavailable("the channel has no access_token", retryable=False)
        if media.provider_media_id is None:
            raise MediaUnavailable("the media has no id", retryable=False)
        # The download URL lives 5 minutes: ask for a fresh one, and once more if it has expired (404).
        for attempt in (1, 2):
            try:
                info = await self._graph.get(media.provider_media_id, bearer=token)
            except ChannelSendError as error:
                raise MediaUnavailable(
                    f"media lookup failed: {error.code} {error.title}", retryable=error.retryable
                ) from error
            size = info.get("file_size")
            if isinstance(size, int) and size > max_bytes:
                raise MediaUnavailable(f"media is larger than {max_bytes} bytes", retryable=False)
            url = info.get("url")
            if not isinstance(url, str) or not url:
                raise MediaUnavailable("media lookup returned no url", retryable=False)
            try:
                fetched = await self._graph.download(url, bearer=token, max_bytes=max_bytes)
            except MediaUrlGone:
                if attempt == 1:
                    continue
                raise
            declared = info.get("mime_type")
            if isinstance(declared, str) and declared and fetched.mime_type in ("", "application/octet-stream"):
                return FetchedMedia(data=fetched.data, mime_type=declared.split(";")[0].strip().lower())
            return fetched
        raise MediaUnavailable("media URL expired twice", retryable=True)

    # --- sending --------------------------------------------------------------------------------

    async def send_text(self, channel: Channel, to: str, text: str, reply_to: str | None) -> str:
        return await self._send(channel, to, {"type": "text", "text": {"body": text, "preview_url": False}}, reply_to)

    async def send_media(self, channel: Channel, to: str, media: OutboundMedia, reply_to: str | None) -> str:
        kind = str(media.type)
        body: dict[str, Any] = {"id": media.media_id} if media.media_id else {"link": media.link}
        if media.caption and media.type in _CAPTIONED:
            body["caption"] = media.caption
        if media.filename and media.type is MessageType.DOCUMENT:
            body["filename"] = media.filename
        return await self._send(channel, to, {"type": kind, kind: body}, reply_to)

    def check_interactive(self, message: InteractiveMessage) -> None:
        _check_interactive(message)

    async def send_interactive(
        self, channel: Channel, to: str, message: InteractiveMessage, reply_to: str | None
    ) -> str:
        _check_interactive(message)
        interactive: dict[str, Any] = {"body": {"text": message.body}}
        if message.buttons:
            interactive["type"] = "button"
            interactive["action"] = {
                "buttons": [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in message.buttons]
            }
        else:
            interactive["type"] = "list"
            interactive["action"] = {
                "button": message.list_button,
                "sections": [
                    {
                        "title": section.title,
                        "rows": [
                            {"id": row.id, "title": row.title}
                            | ({"description": row.description} if row.description else {})
                            for row in section.rows
                        ],
                    }
                    for section in message.sections
                ],
            }
        if message.header:
            interactive["header"] = {"type": "text", "text": message.header}
        if message.footer:
            interactive["footer"] = {"text": message.footer}
        return await self._send(channel, to, {"type": "interactive", "interactive": interactive}, reply_to)

    async def send_template(self, channel: Channel, to: str, template: TemplateMessage) -> str:
        body = {
            "type": "template",
            "template": {
                "name": template.name,
                "language": {"code": template.language},
                "components": list(template.components),
            },
        }
        return await self._send(channel, to, body, None)

    async def send_reaction(self, channel: Channel, to: str, message_id: str, emoji: str) -> str:
        return await self._send(
            channel, to, {"type": "reaction", "reaction": {"message_id": message_id, "emoji": emoji}}, None
        )

    async def mark_read(self, channel: Channel, to: str, message_id: str) -> None:
        await self._post(channel, {"messaging_product": "whatsapp", "status": "read", "message_id": message_id})

    async def typing(self, channel: Channel, to: str, on: bool, message_id: str | None) -> None:
        # The indicator rides on a read receipt and disappears by itself (reply or 25 s): no "off".
        if not on or message_id is None:
            return
        await self._post(
            channel,
            {
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": message_id,
                "typing_indicator": {"type": "text"},
            },
        )

    async def _send(self, channel: Channel, to: str, body: dict[str, Any], reply_to: str | None) -> str:
        request = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": _recipient(to), **body}
        if reply_to:
            request["context"] = {"message_id": reply_to}
        response = await self._post(channel, request)
        messages = response.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict) and messages[0].get("id"):
            return str(messages[0]["id"])
        raise ChannelSendError(SendFailure.TEMPORARY, code="no_message_id", title="the response carried no message id")

    async def _post(self, channel: Channel, body: dict[str, Any]) -> dict[str, Any]:
        config = channel.config
        assert isinstance(config, WhatsAppConfig)
        token = channel.secret("access_token")
        if token is None:
            raise ChannelSendError(SendFailure.AUTH, code="no_token", title="the channel has no access_token")
        return await self._graph.post(
            f"{config.phone_number_id}/messages",
            body,
            bearer=token,
            pace=(f"whatsapp:{config.phone_number_id}", float(config.send_rate_per_second)),
        )


def _recipient(to: str) -> str:
    # Without "+" and the country code WhatsApp prepends the business number's own country code.
    return "+" + to if to.isdigit() else to


def _check_interactive(message: InteractiveMessage) -> None:
    problems = []
    if len(message.body) > _MAX_INTERACTIVE_BODY:
        problems.append(f"body over {_MAX_INTERACTIVE_BODY} characters")
    if len(message.buttons) > _MAX_BUTTONS:
        problems.append(f"more than {_MAX_BUTTONS} buttons")
    problems += [
        f"button title {b.title!r} over {_MAX_BUTTON_TITLE}"
        for b in message.buttons
        if len(b.title) > _MAX_BUTTON_TITLE
    ]
    rows = [row for section in message.sections for row in section.rows]
    if len(rows) > _MAX_ROWS:
        problems.append(f"more than {_MAX_ROWS} list rows")
    problems += [f"row title {r.title!r} over {_MAX_ROW_TITLE}" for r in rows if len(r.title) > _MAX_ROW_TITLE]
    problems += [
        f"row description over {_MAX_ROW_DESCRIPTION}" for r in rows if len(r.description) > _MAX_ROW_DESCRIPTION
    ]
    if message.sections and not 1 <= len(message.list_button) <= _MAX_LIST_BUTTON:
        problems.append(f"list button label must be 1 to {_MAX_LIST_BUTTON} characters")
    if problems:
        raise ChannelSendError(
            SendFailure.INVALID_REQUEST,
            code="invalid_interactive",
            title="interactive message over WhatsApp limits",
            details="; ".join(problems),
        )
