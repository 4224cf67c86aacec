"""Meta webhook bodies in the shapes of the protocol reference, and signing them like Meta does."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

PHONE_NUMBER_ID = "106540352242922"
PAGE_ID = "1234567890123"
CONTACT = "16505551234"
PSID = "7766554433221100"


def meta_json(payload: Any) -> bytes:
    """Meta's serialisation: minified, non-ASCII escaped as \\uXXXX (surrogate pairs), "/" escaped."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wa_message(
    kind: str, body: Any, *, wamid: str = "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRGQTc3", **extra: Any
) -> dict[str, Any]:
    message = {"from": CONTACT, "id": wamid, "timestamp": "1764079200", "type": kind, **extra}
    if body is not None:
        message[kind] = body
    return message


def wa_value(
    messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    phone_number_id: str = PHONE_NUMBER_ID,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
    }
    if messages is not None:
        value["contacts"] = [
            {"profile": {"name": "Zoë Ångström"}, "wa_id": CONTACT, "user_id": "US.13491208655302741918"}
        ]
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return value


def wa_webhook(*values: dict[str, Any]) -> dict[str, Any]:
    """One entry per value, as Meta batches changes of several numbers/WABAs into one POST."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]} for value in values],
    }


def wa_status(wamid: str, status: str, *, timestamp: str = "1764079300", **extra: Any) -> dict[str, Any]:
    return {"id": wamid, "status": status, "timestamp": timestamp, "recipient_id": CONTACT, **extra}


def fb_webhook(*events: dict[str, Any], page_id: str = PAGE_ID) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": page_id, "time": 1764079200000, "messaging": list(events)}]}


def fb_event(page_id: str = PAGE_ID, psid: str = PSID, **event: Any) -> dict[str, Any]:
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": 1764079200123, **event}
