from __future__ import annotations

import hashlib
import hmac

from domain.webhooks.signature import new_signing_secret, sign, signature_header, verify

BODY = b'{"id":"4f1c","type":"message.received","data":{}}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    secret = new_signing_secret()
    expected = hmac.new(secret.encode(), b"1764072000." + BODY, hashlib.sha256).hexdigest()
    assert sign(secret, 1764072000, BODY) == expected
    assert signature_header([secret], 1764072000, BODY) == f"t=1764072000,v1={expected}"


def test_verify_accepts_any_listed_signature_within_the_tolerance() -> None:
    old, new = new_signing_secret(), new_signing_secret()
    header = signature_header([new, old], 1764072000, BODY)
    assert verify(header, old, BODY, now=1764072000 + 299)
    assert verify(header, new, BODY, now=1764072000 - 299)


def test_verify_rejects_tampering_other_secrets_and_stale_timestamps() -> None:
    secret = new_signing_secret()
    header = signature_header([secret], 1764072000, BODY)
    assert not verify(header, secret, BODY + b" ", now=1764072000)
    assert not verify(header, new_signing_secret(), BODY, now=1764072000)
    assert not verify(header, secret, BODY, now=1764072000 + 301)
    assert not verify(header.replace("t=1764072000", "t=1764072001"), secret, BODY, now=1764072000)
    assert not verify("v1=" + sign(secret, 1764072000, BODY), secret, BODY, now=1764072000)
