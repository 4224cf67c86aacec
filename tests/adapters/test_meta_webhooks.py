"""Splitting and normalising WhatsApp and Messenger webhooks, for every type in the protocol reference."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.messenger import webhook as messenger
from adapters.meta.signature import verify_signature
from adapters.whatsapp import webhook as whatsapp
from application.ports.channel_adapters import MalformedWebhook, SignatureInvalid, SignatureMissing
from domain.channels.inbound import EchoReport, IgnoredEvent, InboundMessage, StatusReport, WatermarkReport
from domain.conversations.message import DeliveryStatus, MessageType
from tests.support.meta import (
    CONTACT,
    PAGE_ID,
    PHONE_NUMBER_ID,
    PSID,
    fb_event,
    fb_webhook,
    meta_json,
    signature,
    wa_message,
    wa_status,
    wa_value,
    wa_webhook,
)

RECEIVED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def wa_normalised(message: dict[str, Any]) -> InboundMessage:
    batch = whatsapp.split_webhook(meta_json(wa_webhook(wa_value(messages=[message]))))
    assert len(batch.events) == 1
    event = whatsapp.normalize(batch.events[0].payload, RECEIVED)
    assert isinstance(event, InboundMessage)
    return event


def fb_normalised(event: dict[str, Any]) -> Any:
    batch = messenger.split_webhook(meta_json(fb_webhook(event)))
    assert len(batch.events) == 1
    return messenger.normalize(batch.events[0].payload, RECEIVED)


# --- signatures ----------------------------------------------------------------------------------


def test_signature_is_checked_over_the_exact_bytes_meta_sent() -> None:
    body = meta_json(wa_webhook(wa_value(messages=[wa_message("text", {"body": "café/ü 😀"})])))
    assert b"\\u00e9" in body
    assert b"\\/" in body
    verify_signature(body, signature(body, "s3cret"), "s3cret")
    # Re-serialising (unescaped UTF-8) changes the bytes, so the same header no longer matches.
    reencoded = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
    assert json.loads(reencoded) == json.loads(body)
    with pytest.raises(SignatureInvalid):
        verify_signature(reencoded, signature(body, "s3cret"), "s3cret")


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (None, SignatureMissing),
        ("", SignatureMissing),
        ("sha1=abc", SignatureInvalid),
        ("sha256=", SignatureInvalid),
        ("sha256=" + "0" * 64, SignatureInvalid),
        ("sha256=ünïcode", SignatureInvalid),
    ],
)
def test_bad_signatures_are_refused(header: str | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        verify_signature(b"{}", header, "s3cret")


def test_signature_accepts_uppercase_hex() -> None:
    body = b'{"object":"page"}'
    verify_signature(body, signature(body, "k").upper().replace("SHA256=", "sha256="), "k")


# --- WhatsApp ------------------------------------------------------------------------------------


def test_whatsapp_text_with_contact_profile_and_all_identifiers() -> None:
    event = wa_normalised(wa_message("text", {"body": "Hello"}, from_user_id="US.134912", country_code="US"))
    assert event.type is MessageType.TEXT
    assert event.text == "Hello"
    assert event.contact_id == CONTACT
    assert event.contact_name == "Zoë Ångström"
    assert event.provider_message_id.startswith("wamid.")
    assert event.occurred_at == datetime.fromtimestamp(1764079200, UTC)
    assert event.content["sender"] == {
        "from": CONTACT,
        "from_user_id": "US.134912",
        "country_code": "US",
        "user_id": "US.13491208655302741918",
    }


@pytest.mark.parametrize(
    ("kind", "body", "expected", "caption"),
    [
        (
            "image",
            {"id": "img1", "mime_type": "image/jpeg", "sha256": "abc", "caption": "look"},
            MessageType.IMAGE,
            "look",
        ),
        ("video", {"id": "vid1", "mime_type": "video/mp4", "sha256": "abc"}, MessageType.VIDEO, ""),
        (
            "audio",
            {"id": "aud1", "mime_type": "audio/ogg; codecs=opus", "sha256": "abc", "voice": True},
            MessageType.AUDIO,
            "",
        ),
        (
            "document",
            {"id": "doc1", "mime_type": "application/pdf", "sha256": "abc", "filename": "cv.pdf", "caption": "my cv"},
            MessageType.DOCUMENT,
            "my cv",
        ),
        (
            "sticker",
            {"id": "stk1", "mime_type": "image/webp", "sha256": "abc", "animated": False},
            MessageType.STICKER,
            "",
        ),
    ],
)
def test_whatsapp_media_messages(kind: str, body: dict[str, Any], expected: MessageType, caption: str) -> None:
    event = wa_normalised(wa_message(kind, body))
    assert event.type is expected
    assert event.text == caption
    assert len(event.media) == 1
    assert event.media[0].provider_media_id == body["id"]
    assert event.media[0].mime_type == body["mime_type"]
    if kind == "audio":
        assert event.content["voice"] is True
    if kind == "document":
        assert event.media[0].filename == "cv.pdf"


def test_whatsapp_location_and_contacts() -> None:
    location = wa_normalised(
        wa_message("location", {"latitude": 52.37, "longitude": 4.89, "name": "Dam", "address": "Amsterdam"})
    )
    assert location.type is MessageType.LOCATION
    assert location.content["location"]["latitude"] == 52.37
    assert location.text == "Dam, Amsterdam"
    cards = [
        {"name": {"formatted_name": "Ana Lima", "first_name": "Ana"}, "phones": [{"phone": "+5511999", "type": "CELL"}]}
    ]
    contacts = wa_normalised(wa_message("contacts", cards))
    assert contacts.type is MessageType.CONTACTS
    assert contacts.content["contacts"] == cards
    assert contacts.text == "Ana Lima"


def test_whatsapp_interactive_replies_template_buttons_and_flows() -> None:
    context = {"from": "15550783881", "id": "wamid.sent-by-us"}
    button = wa_normalised(
        wa_message(
            "interactive", {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}}, context=context
        )
    )
    assert (button.type, button.text, button.content["reply"]["id"]) == (MessageType.INTERACTIVE_REPLY, "Yes", "yes")
    assert button.reply_to_provider_id == "wamid.sent-by-us"
    row = wa_normalised(
        wa_message(
            "interactive",
            {"type": "list_reply", "list_reply": {"id": "r2", "title": "Row 2", "description": "second"}},
        )
    )
    assert row.content["reply"] == {"kind": "list_reply", "id": "r2", "title": "Row 2", "description": "second"}
    template = wa_normalised(wa_message("button", {"payload": "STOP", "text": "Stop promotions"}, context=context))
    assert template.type is MessageType.TEMPLATE_BUTTON
    assert template.text == "Stop promotions"
    assert template.content["button"]["payload"] == "STOP"
    flow = wa_normalised(
        wa_message(
            "interactive",
            {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": '{"size": "M"}'}},
        )
    )
    assert flow.content["reply"]["response"] == {"size": "M"}


def test_whatsapp_reactions_and_removed_reactions() -> None:
    added = wa_normalised(wa_message("reaction", {"message_id": "wamid.target", "emoji": "\U0001f44d"}))
    assert added.type is MessageType.REACTION
    assert added.content["reaction"] == {"message_id": "wamid.target", "emoji": "👍", "removed": False}
    removed = wa_normalised(wa_message("reaction", {"message_id": "wamid.target"}))
    assert removed.content["reaction"]["removed"] is True


def test_whatsapp_context_forwarded_referral_order_and_system() -> None:
    forwarded = wa_normalised(wa_message("text", {"body": "fwd"}, context={"forwarded": True}))
    assert forwarded.content["forwarded"] is True
    referral = {"source_url": "https://fb.me/x", "source_type": "ad", "headline": "Sale", "ctwa_clid": "abc"}
    ad = wa_normalised(wa_message("text", {"body": "hi"}, referral=referral))
    assert ad.content["referral"] == referral
    order = wa_normalised(wa_message("order", {"catalog_id": "c1", "text": "2 shirts", "product_items": []}))
    assert (order.type, order.text) == (MessageType.ORDER, "2 shirts")
    system = wa_normalised(
        wa_message("system", {"body": "changed number", "wa_id": "1999", "type": "user_changed_number"})
    )
    assert system.type is MessageType.SYSTEM
    assert system.content["system"]["wa_id"] == "1999"


@pytest.mark.parametrize(
    "message",
    [
        wa_message(
            "unsupported",
            {"type": "edit"},
            errors=[{"code": 131051, "title": "Message type unknown", "message": "Message type unknown"}],
        ),
        wa_message("unknown", None),
        wa_message("hologram", {"frames": 3}),
        # Wrong types in fields: a number where text is due, a string where an object is due.
        wa_message("text", {"body": 42}),
        wa_message("image", "not-an-object"),
        wa_message("location", {"latitude": "north", "longitude": 4.8}),
    ],
)
def test_whatsapp_unknown_or_odd_messages_are_kept_as_unsupported_with_their_raw_payload(
    message: dict[str, Any],
) -> None:
    event = wa_normalised(message)
    assert event.type is MessageType.UNSUPPORTED
    assert event.content["raw"] == message


def test_whatsapp_statuses_with_errors_and_keys_per_status() -> None:
    failed = wa_status(
        "wamid.out1",
        "failed",
        errors=[{"code": 131047, "title": "Re-engagement message", "error_data": {"details": "24h passed"}}],
    )
    body = meta_json(
        wa_webhook(wa_value(statuses=[wa_status("wamid.out1", "sent"), wa_status("wamid.out1", "read"), failed]))
    )
    batch = whatsapp.split_webhook(body)
    assert [event.event_key for event in batch.events] == [
        "status:wamid.out1:sent",
        "status:wamid.out1:read",
        "status:wamid.out1:failed",
    ]
    assert {event.contact_id for event in batch.events} == {CONTACT}
    reports = [whatsapp.normalize(event.payload, RECEIVED) for event in batch.events]
    assert all(isinstance(report, StatusReport) for report in reports)
    last = reports[2]
    assert isinstance(last, StatusReport)
    assert last.status is DeliveryStatus.FAILED
    assert last.error is not None
    assert (last.error.code, last.error.title, last.error.details) == ("131047", "Re-engagement message", "24h passed")


def test_whatsapp_batches_iterate_every_entry_change_and_message() -> None:
    body = meta_json(
        wa_webhook(
            wa_value(
                messages=[wa_message("text", {"body": "a"}, wamid="w1"), wa_message("text", {"body": "b"}, wamid="w2")]
            ),
            wa_value(messages=[wa_message("text", {"body": "c"}, wamid="w3")], phone_number_id="999888777666"),
        )
    )
    batch = whatsapp.split_webhook(body)
    assert [(e.external_id, e.event_key) for e in batch.events] == [
        (PHONE_NUMBER_ID, "message:w1"),
        (PHONE_NUMBER_ID, "message:w2"),
        ("999888777666", "message:w3"),
    ]


def test_whatsapp_other_fields_are_not_events_and_odd_parts_are_counted() -> None:
    document = wa_webhook(wa_value(messages=[wa_message("text", {"body": "ok"})]))
    document["entry"].append({"id": "1", "changes": [{"field": "account_update", "value": {"event": "VERIFIED"}}]})
    document["entry"].append({"id": "2", "changes": "not-a-list"})
    document["entry"].append({"id": "3", "changes": [{"field": "messages", "value": {"messages": [{"id": "x"}]}}]})
    batch = whatsapp.split_webhook(meta_json(document))
    assert len(batch.events) == 1
    assert batch.skipped == 2


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b'{"object":"page","entry":[]}', b'{"object":"whatsapp_business_account","entry":{}}'],
)
def test_whatsapp_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedWebhook):
        whatsapp.split_webhook(body)


def test_nul_characters_are_removed_because_postgres_cannot_store_them() -> None:
    event = wa_normalised(wa_message("text", {"body": "a\u0000b"}))
    assert event.text == "ab"


def test_text_with_emoji_rtl_and_zero_width_characters_is_unchanged() -> None:
    text = "مرحبا 👋🏽 שלום \u200f\u200e family: 👨\u200d👩\u200d👧 zero\u200bwidth \ufeff e\u0301"
    assert wa_normalised(wa_message("text", {"body": text})).text == text


# --- Messenger -----------------------------------------------------------------------------------


def test_messenger_text_quick_reply_and_reply_to() -> None:
    text = fb_normalised(fb_event(message={"mid": "m_1", "text": "hi", "reply_to": {"mid": "m_0"}}))
    assert (text.type, text.text, text.contact_id, text.reply_to_provider_id) == (MessageType.TEXT, "hi", PSID, "m_0")
    assert text.occurred_at == datetime.fromtimestamp(1764079200.123, UTC)
    quick = fb_normalised(fb_event(message={"mid": "m_2", "text": "Red", "quick_reply": {"payload": "COLOR_RED"}}))
    assert quick.type is MessageType.QUICK_REPLY
    assert quick.content["quick_reply"] == {"payload": "COLOR_RED"}


@pytest.mark.parametrize(
    ("attachment", "expected"),
    [
        ({"type": "image", "payload": {"url": "https://cdn.example/i.jpg"}}, MessageType.IMAGE),
        ({"type": "video", "payload": {"url": "https://cdn.example/v.mp4"}}, MessageType.VIDEO),
        ({"type": "audio", "payload": {"url": "https://cdn.example/a.mp4"}}, MessageType.AUDIO),
        ({"type": "file", "payload": {"url": "https://cdn.example/f.pdf"}}, MessageType.DOCUMENT),
        (
            {"type": "image", "payload": {"url": "https://cdn.example/s.png", "sticker_id": 369239263222822}},
            MessageType.STICKER,
        ),
        (
            {"type": "sticker", "payload": {"url": "https://cdn.example/s.png", "sticker_id": 369239263222822}},
            MessageType.STICKER,
        ),
    ],
)
def test_messenger_attachments(attachment: dict[str, Any], expected: MessageType) -> None:
    event = fb_normalised(fb_event(message={"mid": "m_3", "attachments": [attachment]}))
    assert event.type is expected
    assert event.media[0].url == attachment["payload"]["url"]


def test_messenger_several_attachments_in_one_message_are_all_kept() -> None:
    attachments = [{"type": "image", "payload": {"url": f"https://cdn.example/{n}.jpg"}} for n in range(3)]
    event = fb_normalised(fb_event(message={"mid": "m_4", "attachments": attachments}))
    assert len(event.media) == 3


def test_messenger_shared_link_is_text_and_unknown_attachment_is_unsupported() -> None:
    link = fb_normalised(
        fb_event(
            message={"mid": "m_5", "text": "https://x.example", "attachments": [{"type": "fallback", "payload": {}}]}
        )
    )
    assert link.type is MessageType.TEXT
    reel = {"mid": "m_6", "attachments": [{"type": "ig_reel", "payload": {"reel_video_id": "1"}}]}
    unsupported = fb_normalised(fb_event(message=reel))
    assert unsupported.type is MessageType.UNSUPPORTED
    assert unsupported.content["raw"] == reel


def test_messenger_postbacks_referrals_and_reactions() -> None:
    postback = fb_normalised(fb_event(postback={"title": "Get Started", "payload": "GET_STARTED", "mid": "m_7"}))
    assert (postback.type, postback.text, postback.content["payload"]) == (
        MessageType.POSTBACK,
        "Get Started",
        "GET_STARTED",
    )
    assert postback.provider_message_id == "m_7"
    referral = fb_normalised(fb_event(referral={"ref": "summer", "source": "SHORTLINK", "type": "OPEN_THREAD"}))
    assert referral.type is MessageType.REFERRAL
    assert referral.content["referral"]["ref"] == "summer"
    reaction = fb_normalised(fb_event(reaction={"reaction": "love", "emoji": "❤️", "action": "react", "mid": "m_8"}))
    assert reaction.type is MessageType.REACTION
    assert reaction.content["reaction"]["message_id"] == "m_8"
    unreact = fb_normalised(fb_event(reaction={"reaction": "love", "emoji": "❤️", "action": "unreact", "mid": "m_8"}))
    assert unreact.content["reaction"]["removed"] is True
    assert unreact.provider_message_id != reaction.provider_message_id


def test_messenger_echoes_delivery_and_read_watermarks() -> None:
    ours = fb_normalised(
        {
            "sender": {"id": PAGE_ID},
            "recipient": {"id": PSID},
            "timestamp": 1764079200000,
            "message": {
                "mid": "m_9",
                "is_echo": True,
                "app_id": 1517776481860111,
                "metadata": "metachat",
                "text": "hi",
            },
        }
    )
    assert isinstance(ours, EchoReport)
    assert ours.sent_by_platform
    assert ours.contact_id == PSID
    delivery = fb_normalised(fb_event(delivery={"mids": ["m_9"], "watermark": 1764079300000}))
    assert isinstance(delivery, WatermarkReport)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.provider_message_ids == ("m_9",)
    read = fb_normalised(fb_event(read={"watermark": 1764079400000}))
    assert isinstance(read, WatermarkReport)
    assert read.status is DeliveryStatus.READ
    assert read.watermark == datetime.fromtimestamp(1764079400, UTC)


def test_messenger_keys_and_contacts_for_every_event_kind() -> None:
    body = meta_json(
        fb_webhook(
            fb_event(message={"mid": "m_1", "text": "a"}),
            fb_event(postback={"title": "t", "payload": "p", "mid": "m_2"}),
            fb_event(delivery={"watermark": 1}),
            fb_event(read={"watermark": 2}),
            {
                "sender": {"user_ref": "abc"},
                "recipient": {"id": PAGE_ID},
                "timestamp": 1,
                "message": {"mid": "m_3", "text": "plugin"},
            },
        )
    )
    batch = messenger.split_webhook(body)
    assert [(e.event_key, e.contact_id) for e in batch.events] == [
        ("message:m_1", PSID),
        ("postback:m_2", PSID),
        (f"delivery:{PSID}:1", PSID),
        (f"read:{PSID}:2", PSID),
        ("message:m_3", "user_ref:abc"),
    ]


def test_messenger_standby_and_unused_events_are_ignored_not_dropped() -> None:
    document = fb_webhook()
    document["entry"][0]["standby"] = [fb_event(message={"mid": "m_1", "text": "for the other app"})]
    batch = messenger.split_webhook(meta_json(document))
    assert batch.events[0].event_key == "standby:message:m_1"
    assert isinstance(messenger.normalize(batch.events[0].payload, RECEIVED), IgnoredEvent)
    optin = fb_normalised(fb_event(optin={"ref": "x"}))
    assert isinstance(optin, IgnoredEvent)
