"""How a webhook delivery is signed, and how a receiver checks it (docs/events.md has the recipe).

X-MetaChat-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>[,v1=<…>]
A second v1 value appears while a rotated-out secret is still valid."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "X-MetaChat-Signature"
EVENT_HEADER = "X-MetaChat-Event"
DELIVERY_HEADER = "X-MetaChat-Delivery"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a marker, not a secret)
DEFAULT_TOLERANCE_SECONDS = 300


def new_signing_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(signing_secrets: list[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={sign(secret, timestamp, body)}" for secret in signing_secrets)])


def verify(
    header: str, secret: str, body: bytes, *, now: float, tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS
) -> bool:
    """True when one v1 value matches and the timestamp is within the tolerance (replay protection)."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or abs(now - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
