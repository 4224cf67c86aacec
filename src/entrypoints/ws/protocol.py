"""The web chat WebSocket protocol: JSON text frames, each with a `type`.

Client → server
  {"type": "message", "id": "<client id>", "text": "…"}   the id makes a resend harmless
  {"type": "typing", "on": true}
  {"type": "ack", "seq": 12}    "I have everything up to 12": sent on (re)connect and as messages
                                 arrive; the server sends whatever comes after it
Server → client
  {"type": "message", "id", "seq", "role": "visitor"|"bot"|"agent"|"system", "text", "createdAt",
   "clientId"?, "replyId"?, "citations": [{"number", "title", "url"}]}
  {"type": "delta", "replyId", "text"}       a piece of the answer being written
  {"type": "typing", "on", "role"}
  {"type": "handoff", "state": "joined"|"left"}   a person took over the conversation, or left it
  {"type": "error", "code", "message", "id"?}
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from application.webchat.views import ChatMessageView
from domain.common.text import without_nul

# A 4000-character message is far below this; anything larger is not the widget talking.
MAX_FRAME_CHARS = 16_384
MAX_SEQ = 2**62

# Close codes. 4401/4403 tell the widget to fetch a new token or to give up; 1008 ends an abusive
# connection; 1013 asks to come back later.
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_GOING_AWAY = 1001


class BadFrame(Exception):
    def __init__(self, code: str, message: str, client_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.client_id = client_id


@attrs.frozen
class SendMessage:
    client_id: str
    text: str


@attrs.frozen
class Typing:
    on: bool


@attrs.frozen
class Ack:
    seq: int


ClientFrame = SendMessage | Typing | Ack


def parse_client_frame(raw: str | bytes | None) -> ClientFrame:
    """Raises BadFrame with the error code the client is sent."""
    if not isinstance(raw, str):
        raise BadFrame("bad_frame", "frames are JSON text")
    if len(raw) > MAX_FRAME_CHARS:
        raise BadFrame("too_large", f"frames are at most {MAX_FRAME_CHARS} characters")
    try:
        frame = json.loads(raw)
    except ValueError:
        raise BadFrame("bad_frame", "frames are JSON objects") from None
    if not isinstance(frame, dict):
        raise BadFrame("bad_frame", "frames are JSON objects")
    kind = frame.get("type")
    if kind == "message":
        client_id, text = frame.get("id"), frame.get("text")
        if not isinstance(client_id, str) or not isinstance(text, str):
            raise BadFrame(
                "invalid_message",
                "a message has a string id and text",
                client_id if isinstance(client_id, str) else None,
            )
        return SendMessage(client_id=client_id, text=without_nul(text))
    if kind == "typing":
        on = frame.get("on")
        if not isinstance(on, bool):
            raise BadFrame("bad_frame", "typing needs on: true or false")
        return Typing(on=on)
    if kind == "ack":
        seq = frame.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
            raise BadFrame("bad_frame", "ack needs seq: a whole number from 0")
        return Ack(seq=seq)
    raise BadFrame("unknown_type", "frame types are message, typing and ack")


def message_frame(message: ChatMessageView) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "message",
        "id": message.id,
        "seq": message.seq,
        "role": message.role,
        "text": message.text,
        "createdAt": message.created_at.isoformat(),
        "citations": [
            {"number": citation.number, "title": citation.title, "url": citation.url} for citation in message.citations
        ],
    }
    if message.client_id is not None:
        frame["clientId"] = message.client_id
    if message.reply_id is not None:
        frame["replyId"] = message.reply_id
    return frame


def error_frame(code: str, message: str, client_id: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if client_id is not None:
        frame["id"] = client_id
    return frame
