"""WhatsApp Cloud API webhooks: cutting a batched body into events, and normalising each event."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from adapters.meta.payloads import as_dict, as_list, as_text, content_hash, decode_body, timestamp
from application.ports.channel_adapters import WebhookBatch, WebhookEvent
from domain.channels.inbound import IgnoredEvent, InboundMessage, MediaRef, NormalisedEvent, StatusReport
from domain.conversations.message import DeliveryStatus, MessageError, MessageType

WEBHOOK_OBJECT = "whatsapp_business_account"

_MEDIA_TYPES = {
    "image": MessageType.IMAGE,
    "audio": MessageType.AUDIO,
    "video": MessageType.VIDEO,
    "document": MessageType.DOCUMENT,
    "sticker": MessageType.STICKER,
}
_STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "played": DeliveryStatus.PLAYED,
    "failed": DeliveryStatus.FAILED,
}


def split_webhook(body: bytes) -> WebhookBatch:
    document = decode_body(body, WEBHOOK_OBJECT)
    events: list[WebhookEvent] = []
    skipped = 0
    for entry in document["entry"]:
        changes = as_dict(entry).get("changes")
        if not isinstance(changes, list):
            skipped += 1
            continue
        for change in changes:
            change = as_dict(change)
            if change.get("field") != "messages":
                # account_update, template updates, …: same URL, nothing for the inbox.
                continue
            value = as_dict(change.get("value"))
            metadata = as_dict(value.get("metadata"))
            phone_number_id = as_text(metadata.get("phone_number_id"))
            items = [*as_list(value.get("messages")), *as_list(value.get("statuses"))]
            if not phone_number_id:
                skipped += len(items) or 1
                continue
            contacts = [contact for contact in as_list(value.get("contacts")) if isinstance(contact, dict)]
            for message in as_list(value.get("messages")):
                event = _message_event(phone_number_id, metadata, contacts, message)
                skipped += event is None
                if event is not None:
                    events.append(event)
            for status in as_list(value.get("statuses")):
                event = _status_event(phone_number_id, metadata, status)
                skipped += event is None
                if event is not None:
                    events.append(event)
    return WebhookBatch(events=events, skipped=skipped)


def _message_event(
    phone_number_id: str, metadata: dict[str, Any], contacts: list[dict[str, Any]], message: Any
) -> WebhookEvent | None:
    if not isinstance(message, dict):
        return None
    sender = as_text(message.get("from")) or as_text(message.get("from_user_id"))
    wamid = as_text(message.get("id"))
    contact = next(
        (c for c in contacts if sender and sender in (as_text(c.get("wa_id")), as_text(c.get("user_id")))),
        contacts[0] if len(contacts) == 1 else None,
    )
    return WebhookEvent(
        external_id=phone_number_id,
        event_key=f"message:{wamid}" if wamid else f"message-hash:{content_hash(message)}",
        contact_id=sender,
        payload={"message": message, "contact": contact, "metadata": metadata},
    )


def _status_event(phone_number_id: str, metadata: dict[str, Any], status: Any) -> WebhookEvent | None:
    if not isinstance(status, dict):
        return None
    wamid = as_text(status.get("id"))
    state = as_text(status.get("status"))
    if not wamid or not state:
        return None
    return WebhookEvent(
        external_id=phone_number_id,
        event_key=f"status:{wamid}:{state}",
        contact_id=as_text(status.get("recipient_id")) or as_text(status.get("recipient_user_id")),
        payload={"status": status, "metadata": metadata},
    )


def normalize(payload: dict[str, Any], received_at: datetime) -> NormalisedEvent:
    if isinstance(payload.get("status"), dict):
        return _normalize_status(payload["status"], received_at)
    if isinstance(payload.get("message"), dict):
        return _normalize_message(payload["message"], as_dict(payload.get("contact")), received_at)
    return IgnoredEvent("not a WhatsApp message or status")


def _normalize_status(status: dict[str, Any], received_at: datetime) -> NormalisedEvent:
    reported = _STATUSES.get(as_text(status.get("status")))
    if reported is None:
        return IgnoredEvent(f"unknown status {as_text(status.get('status'))!r}")
    error = None
    if reported is DeliveryStatus.FAILED:
        first = as_dict(next(iter(as_list(status.get("errors"))), {}))
        error = MessageError(
            code=as_text(first.get("code")) or "unknown",
            title=as_text(first.get("title")) or as_text(first.get("message")) or "delivery failed",
            details=as_text(as_dict(first.get("error_data")).get("details")),
        )
    return StatusReport(
        provider_message_id=as_text(status.get("id")),
        contact_id=as_text(status.get("recipient_id")) or as_text(status.get("recipient_user_id")),
        status=reported,
        occurred_at=timestamp(status.get("timestamp"), milliseconds=False, fallback=received_at),
        error=error,
    )


def _normalize_message(message: dict[str, Any], contact: dict[str, Any], received_at: datetime) -> InboundMessage:
    kind = as_text(message.get("type"))
    context = as_dict(message.get("context"))
    content: dict[str, Any] = {}
    # Every identifier Meta gives for the sender: wa_id, business-scoped user id, username (subject to change).
    sender = {
        key: message[key]
        for key in ("from", "from_user_id", "parent_user_id", "country_code")
        if isinstance(message.get(key), str)
    }
    if contact.get("user_id"):
        sender["user_id"] = as_text(contact.get("user_id"))
    content["sender"] = sender
    if context.get("forwarded") or context.get("frequently_forwarded"):
        content["forwarded"] = True
        content["frequently_forwarded"] = bool(context.get("frequently_forwarded"))
    if isinstance(context.get("referred_product"), dict):
        content["referred_product"] = context["referred_product"]
    if isinstance(message.get("referral"), dict):
        content["referral"] = message["referral"]
    common: dict[str, Any] = {
        "provider_message_id": as_text(message.get("id")),
        "contact_id": as_text(message.get("from")) or as_text(message.get("from_user_id")),
        "contact_name": as_text(as_dict(contact.get("profile")).get("name")),
        "occurred_at": timestamp(message.get("timestamp"), milliseconds=False, fallback=received_at),
        "reply_to_provider_id": as_text(context.get("id")) or None,
    }
    body = message.get(kind) if kind else None
    parsed = _parse_body(kind, body, content)
    if parsed is None:
        content["raw"] = message
        content["unsupported_type"] = kind or as_text(as_dict(message.get("unsupported")).get("type"))
        if isinstance(message.get("errors"), list):
            content["errors"] = message["errors"]
        return InboundMessage(type=MessageType.UNSUPPORTED, content=content, **common)
    message_type, text, media = parsed
    return InboundMessage(type=message_type, text=text, content=content, media=media, **common)


def _parse_body(kind: str, body: Any, content: dict[str, Any]) -> tuple[MessageType, str, tuple[MediaRef, ...]] | None:
    """(type, text, media) for a readable body; None when the type or its shape is not understood."""
    if kind == "contacts":
        return _contacts(body, content)
    if not isinstance(body, dict):
        return None
    if kind == "text":
        text = body.get("body")
        return (MessageType.TEXT, text, ()) if isinstance(text, str) else None
    if kind in _MEDIA_TYPES:
        return _media(kind, body, content)
    if kind == "location":
        return _location(body, content)
    if kind == "interactive":
        return _interactive(body, content)
    if kind == "button":
        payload, label = body.get("payload"), body.get("text")
        if not isinstance(label, str):
            return None
        content["button"] = {"payload": as_text(payload), "text": label}
        return MessageType.TEMPLATE_BUTTON, label, ()
    if kind == "reaction":
        target = as_text(body.get("message_id"))
        if not target:
            return None
        emoji = as_text(body.get("emoji"))
        content["reaction"] = {"message_id": target, "emoji": emoji, "removed": not emoji}
        return MessageType.REACTION, emoji, ()
    if kind == "order":
        content["order"] = body
        return MessageType.ORDER, as_text(body.get("text")), ()
    if kind == "system":
        content["system"] = body
        return MessageType.SYSTEM, as_text(body.get("body")), ()
    return None


def _media(
    kind: str, body: dict[str, Any], content: dict[str, Any]
) -> tuple[MessageType, str, tuple[MediaRef, ...]] | None:
    media_id = as_text(body.get("id"))
    if not media_id:
        return None
    message_type = _MEDIA_TYPES[kind]
    ref = MediaRef(
        type=message_type,
        provider_media_id=media_id,
        url=as_text(body.get("url")) or None,
        mime_type=as_text(body.get("mime_type")) or None,
        sha256=as_text(body.get("sha256")) or None,
        filename=as_text(body.get("filename")) or None,
    )
    if kind == "audio":
        content["voice"] = body.get("voice") is True
    if kind == "sticker":
        content["animated"] = body.get("animated") is True
    return message_type, as_text(body.get("caption")), (ref,)


def _location(body: dict[str, Any], content: dict[str, Any]) -> tuple[MessageType, str, tuple[MediaRef, ...]] | None:
    latitude, longitude = body.get("latitude"), body.get("longitude")
    if not all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in (latitude, longitude)):
        return None
    content["location"] = {
        "latitude": latitude,
        "longitude": longitude,
        "name": as_text(body.get("name")),
        "address": as_text(body.get("address")),
        "url": as_text(body.get("url")),
    }
    text = ", ".join(part for part in (as_text(body.get("name")), as_text(body.get("address"))) if part)
    return MessageType.LOCATION, text, ()


def _interactive(body: dict[str, Any], content: dict[str, Any]) -> tuple[MessageType, str, tuple[MediaRef, ...]] | None:
    reply_type = as_text(body.get("type"))
    reply = as_dict(body.get(reply_type))
    if reply_type in ("button_reply", "list_reply"):
        title = reply.get("title")
        if not isinstance(title, str):
            return None
        content["reply"] = {
            "kind": reply_type,
            "id": as_text(reply.get("id")),
            "title": title,
            "description": as_text(reply.get("description")),
        }
        return MessageType.INTERACTIVE_REPLY, title, ()
    if reply_type == "nfm_reply":
        # WhatsApp Flows: the form's answers arrive as a JSON *string*.
        raw_response = as_text(reply.get("response_json"))
        try:
            response = json.loads(raw_response) if raw_response else {}
        except ValueError:
            response = {"unparsed": raw_response}
        content["reply"] = {"kind": reply_type, "name": as_text(reply.get("name")), "response": response}
        return MessageType.INTERACTIVE_REPLY, as_text(reply.get("body")), ()
    return None


def _contacts(body: Any, content: dict[str, Any]) -> tuple[MessageType, str, tuple[MediaRef, ...]] | None:
    cards = [card for card in as_list(body) if isinstance(card, dict)]
    if not cards:
        return None
    content["contacts"] = cards
    names = [as_text(as_dict(card.get("name")).get("formatted_name")) for card in cards]
    return MessageType.CONTACTS, ", ".join(name for name in names if name), ()
