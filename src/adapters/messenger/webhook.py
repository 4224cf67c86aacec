"""Messenger Platform webhooks: cutting a batched body into events, and normalising each event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.meta.payloads import as_dict, as_list, as_text, content_hash, decode_body, timestamp
from application.ports.channel_adapters import WebhookBatch, WebhookEvent
from domain.channels.inbound import (
    EchoReport,
    IgnoredEvent,
    InboundMessage,
    MediaRef,
    NormalisedEvent,
    WatermarkReport,
)
from domain.conversations.message import DeliveryStatus, MessageType

WEBHOOK_OBJECT = "page"
# Our own sends carry this metadata, which Messenger hands back in their echoes.
ECHO_METADATA = "metachat"
# Chat-plugin senders have a user_ref instead of a PSID; the prefix tells the send side which one it is.
USER_REF_PREFIX = "user_ref:"

_ATTACHMENT_TYPES = {
    "image": MessageType.IMAGE,
    "video": MessageType.VIDEO,
    "audio": MessageType.AUDIO,
    "file": MessageType.DOCUMENT,
    "sticker": MessageType.STICKER,
}


def split_webhook(body: bytes) -> WebhookBatch:
    document = decode_body(body, WEBHOOK_OBJECT)
    events: list[WebhookEvent] = []
    skipped = 0
    for entry in document["entry"]:
        entry = as_dict(entry)
        page_id = as_text(entry.get("id"))
        items = [(item, False) for item in as_list(entry.get("messaging"))]
        # Handover protocol: while another app controls the thread, events arrive under "standby".
        items += [(item, True) for item in as_list(entry.get("standby"))]
        if not page_id:
            skipped += len(items) or 1
            continue
        for item, standby in items:
            event = _event(page_id, item, standby)
            skipped += event is None
            if event is not None:
                events.append(event)
    return WebhookBatch(events=events, skipped=skipped)


def _party(value: Any) -> str:
    party = as_dict(value)
    if party.get("id") is not None:
        return as_text(party.get("id"))
    user_ref = as_text(party.get("user_ref"))
    return USER_REF_PREFIX + user_ref if user_ref else ""


def _event(page_id: str, item: Any, standby: bool) -> WebhookEvent | None:
    if not isinstance(item, dict):
        return None
    sender, recipient = _party(item.get("sender")), _party(item.get("recipient"))
    message = as_dict(item.get("message"))
    is_echo = message.get("is_echo") is True
    contact = recipient if is_echo else sender
    key = _event_key(item, message, sender, is_echo)
    if key is None:
        return None
    return WebhookEvent(
        external_id=page_id,
        event_key=("standby:" + key) if standby else key,
        contact_id=contact,
        payload={"event": item, "page_id": page_id, "standby": standby},
    )


def _event_key(item: dict[str, Any], message: dict[str, Any], sender: str, is_echo: bool) -> str | None:
    if message:
        mid = as_text(message.get("mid"))
        return None if not mid else (f"echo:{mid}" if is_echo else f"message:{mid}")
    if isinstance(item.get("postback"), dict):
        mid = as_text(item["postback"].get("mid"))
        return f"postback:{mid}" if mid else f"postback-hash:{content_hash(item)}"
    if isinstance(item.get("reaction"), dict):
        reaction = item["reaction"]
        return (
            f"reaction:{as_text(reaction.get('mid'))}:{sender}:{as_text(reaction.get('action'))}"
            f":{as_text(item.get('timestamp'))}"
        )
    for watermark_kind in ("delivery", "read"):
        if isinstance(item.get(watermark_kind), dict):
            return f"{watermark_kind}:{sender}:{as_text(item[watermark_kind].get('watermark'))}"
    return f"event:{content_hash(item)}"


def normalize(payload: dict[str, Any], received_at: datetime) -> NormalisedEvent:
    item = as_dict(payload.get("event"))
    if payload.get("standby") is True:
        return IgnoredEvent("standby event: another app controls this thread")
    sender = _party(item.get("sender"))
    occurred_at = timestamp(item.get("timestamp"), milliseconds=True, fallback=received_at)
    if isinstance(item.get("message"), dict):
        message = item["message"]
        if message.get("is_echo") is True:
            return _echo(message, _party(item.get("recipient")), occurred_at)
        return _message(message, sender, occurred_at)
    if isinstance(item.get("postback"), dict):
        postback = item["postback"]
        content: dict[str, Any] = {"payload": as_text(postback.get("payload")), "title": as_text(postback.get("title"))}
        if isinstance(postback.get("referral"), dict):
            content["referral"] = postback["referral"]
        return InboundMessage(
            provider_message_id=as_text(postback.get("mid")) or f"postback-hash:{content_hash(item)}",
            contact_id=sender,
            type=MessageType.POSTBACK,
            occurred_at=occurred_at,
            text=as_text(postback.get("title")),
            content=content,
        )
    if isinstance(item.get("reaction"), dict):
        reaction = item["reaction"]
        action = as_text(reaction.get("action"))
        emoji = as_text(reaction.get("emoji"))
        return InboundMessage(
            provider_message_id=f"reaction:{as_text(reaction.get('mid'))}:{sender}:{action}:{as_text(item.get('timestamp'))}",
            contact_id=sender,
            type=MessageType.REACTION,
            occurred_at=occurred_at,
            text="" if action == "unreact" else emoji,
            content={
                "reaction": {
                    "message_id": as_text(reaction.get("mid")),
                    "emoji": emoji,
                    "reaction": as_text(reaction.get("reaction")),
                    "removed": action == "unreact",
                }
            },
        )
    if isinstance(item.get("referral"), dict):
        return InboundMessage(
            provider_message_id=f"referral:{content_hash(item)}",
            contact_id=sender,
            type=MessageType.REFERRAL,
            occurred_at=occurred_at,
            content={"referral": item["referral"]},
        )
    for watermark_kind, status in (("delivery", DeliveryStatus.DELIVERED), ("read", DeliveryStatus.READ)):
        if isinstance(item.get(watermark_kind), dict):
            report = item[watermark_kind]
            return WatermarkReport(
                contact_id=sender,
                status=status,
                watermark=timestamp(report.get("watermark"), milliseconds=True, fallback=occurred_at),
                provider_message_ids=tuple(as_text(mid) for mid in as_list(report.get("mids")) if as_text(mid)),
            )
    return IgnoredEvent("a Messenger event the platform does not use: " + ",".join(sorted(item)[:8]))


def _echo(message: dict[str, Any], contact: str, occurred_at: datetime) -> EchoReport:
    return EchoReport(
        provider_message_id=as_text(message.get("mid")),
        contact_id=contact,
        sent_by_platform=as_text(message.get("metadata")) == ECHO_METADATA,
        occurred_at=occurred_at,
        text=as_text(message.get("text")),
        content={"app_id": as_text(message.get("app_id")), "attachments": as_list(message.get("attachments"))},
    )


def _message(message: dict[str, Any], sender: str, occurred_at: datetime) -> InboundMessage:
    text = as_text(message.get("text"))
    content: dict[str, Any] = {}
    reply_to = as_text(as_dict(message.get("reply_to")).get("mid")) or None
    if isinstance(message.get("referral"), dict):
        content["referral"] = message["referral"]
    common: dict[str, Any] = {
        "provider_message_id": as_text(message.get("mid")),
        "contact_id": sender,
        "occurred_at": occurred_at,
        "reply_to_provider_id": reply_to,
    }
    quick_reply = as_dict(message.get("quick_reply"))
    if quick_reply:
        content["quick_reply"] = {"payload": as_text(quick_reply.get("payload"))}
        return InboundMessage(type=MessageType.QUICK_REPLY, text=text, content=content, **common)
    attachments = [item for item in as_list(message.get("attachments")) if isinstance(item, dict)]
    media: list[MediaRef] = []
    described: list[dict[str, Any]] = []
    location: dict[str, Any] | None = None
    for attachment in attachments:
        kind = as_text(attachment.get("type"))
        payload = as_dict(attachment.get("payload"))
        url = as_text(payload.get("url"))
        sticker_id = payload.get("sticker_id")
        described.append(
            {"type": kind, "url": url, "title": as_text(attachment.get("title"))}
            | ({"sticker_id": as_text(sticker_id)} if sticker_id is not None else {})
        )
        message_type = MessageType.STICKER if sticker_id is not None else _ATTACHMENT_TYPES.get(kind)
        if message_type is not None and url:
            media.append(MediaRef(type=message_type, url=url))
        elif kind == "location" and isinstance(payload.get("coordinates"), dict):
            coordinates = payload["coordinates"]
            location = {"latitude": coordinates.get("lat"), "longitude": coordinates.get("long")}
    if described:
        content["attachments"] = described
    if media:
        return InboundMessage(type=media[0].type, text=text, content=content, media=tuple(media), **common)
    if location is not None:
        content["location"] = location
        return InboundMessage(type=MessageType.LOCATION, text=text, content=content, **common)
    if text:
        # Shared links arrive as text plus a "fallback" attachment: the text is the message.
        return InboundMessage(type=MessageType.TEXT, text=text, content=content, **common)
    content["raw"] = message
    content["unsupported_type"] = ",".join(as_text(item.get("type")) for item in attachments) or "empty"
    return InboundMessage(type=MessageType.UNSUPPORTED, content=content, **common)
