"""Web chat visitor tokens: HS256 JWTs under a key derived from METACHAT_SECRET_KEY, and visitor ids
that carry a MAC so only ids this platform issued are accepted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from application.ports.clock import Clock
from application.ports.webchat import InvalidVisitorToken, IssuedVisitorToken, VisitorClaims
from domain.common.ids import ChannelId, TenantId

ISSUER = "metachat"
AUDIENCE = "webchat"
DEFAULT_TTL_SECONDS = 15 * 60
# Far above a real token (~400 characters); refusing early keeps parsing cheap for junk.
_MAX_TOKEN_LENGTH = 2048
_VISITOR_RANDOM_CHARS = 22  # token_urlsafe(16)
_VISITOR_MAC_CHARS = 16
_VISITOR_ID = re.compile(rf"^v_[A-Za-z0-9_-]{{{_VISITOR_RANDOM_CHARS}}}[A-Za-z0-9_-]{{{_VISITOR_MAC_CHARS}}}$")


def derive_key(secret_key: str, label: bytes) -> bytes:
    """A key for one purpose only: the same platform secret also encrypts channel secrets at rest."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret_key.encode())


class JwtVisitorTokens:
    def __init__(self, secret_key: str, clock: Clock, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._signing_key = derive_key(secret_key, b"metachat/webchat/token/v1")
        self._visitor_key = derive_key(secret_key, b"metachat/webchat/visitor-id/v1")
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_seconds)

    def issue(self, tenant_id: TenantId, channel_id: ChannelId, widget_id: str, visitor_id: str) -> IssuedVisitorToken:
        now = self._clock.now().replace(microsecond=0)
        expires_at = now + self._ttl
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": visitor_id,
            "tid": str(tenant_id),
            "cid": str(channel_id),
            "wid": widget_id,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        token = jwt.encode(payload, self._signing_key, algorithm="HS256")
        claims = VisitorClaims(
            tenant_id=tenant_id,
            channel_id=channel_id,
            widget_id=widget_id,
            visitor_id=visitor_id,
            expires_at=expires_at,
        )
        return IssuedVisitorToken(token=token, claims=claims)

    def verify(self, token: str) -> VisitorClaims:
        if not token or len(token) > _MAX_TOKEN_LENGTH:
            raise InvalidVisitorToken("a web chat token is required")
        try:
            # Expiry is checked below against the injected clock; everything else by PyJWT, with the
            # algorithm pinned so neither "none" nor another algorithm is accepted.
            payload: dict[str, Any] = jwt.decode(
                token,
                self._signing_key,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "aud", "iss"], "verify_exp": False},
            )
            claims = VisitorClaims(
                tenant_id=TenantId(uuid.UUID(payload["tid"])),
                channel_id=ChannelId(uuid.UUID(payload["cid"])),
                widget_id=str(payload["wid"]),
                visitor_id=str(payload["sub"]),
                expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
            )
        except (jwt.InvalidTokenError, KeyError, ValueError, TypeError) as error:
            raise InvalidVisitorToken("the web chat token is not valid") from error
        if claims.expires_at <= self._clock.now():
            raise InvalidVisitorToken("the web chat token has expired", details={"expired": True})
        if not self.is_issued_visitor_id(claims.visitor_id):
            raise InvalidVisitorToken("the web chat token is not valid")
        return claims

    def new_visitor_id(self) -> str:
        random_part = secrets.token_urlsafe(16)
        return f"v_{random_part}{self._visitor_mac(random_part)}"

    def is_issued_visitor_id(self, visitor_id: str) -> bool:
        if not _VISITOR_ID.match(visitor_id):
            return False
        random_part = visitor_id[2 : 2 + _VISITOR_RANDOM_CHARS]
        return hmac.compare_digest(visitor_id[2 + _VISITOR_RANDOM_CHARS :], self._visitor_mac(random_part))

    def _visitor_mac(self, random_part: str) -> str:
        digest = hmac.new(self._visitor_key, random_part.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:_VISITOR_MAC_CHARS]
