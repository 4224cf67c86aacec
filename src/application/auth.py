"""Who is calling, and what they may do. Admin keys act platform-wide; tenant keys only in their tenant."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime

import attrs

from application.errors import Forbidden, Unauthorized
from application.ports.clock import Clock
from application.ports.rate_limiter import NonceStore
from application.ports.security import SecretCipher, SecretHasher
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import ApiKeyId, TenantId
from domain.tenants.api_key import ALL_SCOPES, ApiKey, Scope
from domain.tenants.tenant import RateLimitSettings

KEY_MARK = "mck"
ADMIN_MARK = "admin"
SIGNATURE_TOLERANCE_SECONDS = 300


@attrs.frozen
class Principal:
    key_id: ApiKeyId | None
    # None: a platform admin.
    tenant_id: TenantId | None
    scopes: frozenset[Scope]
    rate_limits: RateLimitSettings | None = None

    @property
    def is_admin(self) -> bool:
        return self.tenant_id is None

    def require(self, scope: Scope, tenant_id: TenantId | None = None) -> None:
        """Forbidden unless the key has the scope and (for tenant routes) belongs to that tenant."""
        if not self.is_admin and tenant_id is None:
            raise Forbidden("this operation needs an admin key")
        if not self.is_admin and tenant_id != self.tenant_id:
            raise Forbidden("this key belongs to another tenant")
        if Scope.ADMIN not in self.scopes and scope not in self.scopes:
            raise Forbidden(f"this key lacks the '{scope}' scope", details={"required_scope": str(scope)})


@attrs.frozen
class IssuedSecret:
    """The parts of a new API key; the plaintext is shown once and never stored."""

    prefix: str
    plaintext: str


def issue_key_secret(tenant_id: TenantId | None) -> IssuedSecret:
    owner = ADMIN_MARK if tenant_id is None else tenant_id.hex
    prefix = secrets.token_hex(6)
    return IssuedSecret(prefix=prefix, plaintext=f"{KEY_MARK}_{owner}_{prefix}_{secrets.token_urlsafe(32)}")


@attrs.frozen
class KeyParts:
    tenant_id: TenantId | None
    prefix: str


def parse_key(presented: str) -> KeyParts | None:
    parts = presented.split("_", 3)
    if len(parts) != 4 or parts[0] != KEY_MARK or len(parts[2]) != 12:
        return None
    if parts[1] == ADMIN_MARK:
        return KeyParts(tenant_id=None, prefix=parts[2])
    try:
        return KeyParts(tenant_id=TenantId(uuid.UUID(hex=parts[1])), prefix=parts[2])
    except ValueError:
        return None


@attrs.frozen
class SignedRequest:
    header: str | None
    method: str
    path: str
    body: bytes


@attrs.frozen
class AuthenticateInput:
    presented_key: str | None
    request: SignedRequest


class AuthenticateApiKey:
    """Resolve the caller from an API key (and its request signature, when the key requires one)."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        hasher: SecretHasher,
        cipher: SecretCipher,
        nonces: NonceStore,
        clock: Clock,
        bootstrap_admin_key: str | None,
    ) -> None:
        self._uow_factory = uow_factory
        self._hasher = hasher
        self._cipher = cipher
        self._nonces = nonces
        self._clock = clock
        self._bootstrap_admin_key = bootstrap_admin_key

    async def execute(self, data: AuthenticateInput) -> Principal:
        presented = data.presented_key
        if not presented:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key'")
        if self._bootstrap_admin_key and hmac.compare_digest(presented.encode(), self._bootstrap_admin_key.encode()):
            return Principal(key_id=None, tenant_id=None, scopes=ALL_SCOPES)
        parts = parse_key(presented)
        if parts is None:
            raise Unauthorized("invalid API key")
        now = self._clock.now()
        async with self._uow_factory(parts.tenant_id) as uow:
            key = await uow.api_keys.find_by_prefix(parts.tenant_id, parts.prefix)
            if key is None or not key.is_usable_at(now) or not self._hasher.verify(presented, key.secret_hash):
                raise Unauthorized("invalid API key")
            if key.requires_signature:
                await self._check_signature(key, data.request, now)
            rate_limits = None if parts.tenant_id is None else await uow.tenants.rate_limits(parts.tenant_id)
            await uow.api_keys.touch(key, now)
            await uow.commit()
        return Principal(key_id=key.id, tenant_id=key.tenant_id, scopes=key.scopes, rate_limits=rate_limits)

    async def _check_signature(self, key: ApiKey, request: SignedRequest, now: datetime) -> None:
        assert key.signing_secret_encrypted is not None
        fields = _parse_signature_header(request.header)
        if fields is None:
            raise Unauthorized("this key requires a signed request: X-Signature: t=<unix>,v1=<hex>")
        timestamp, signature = fields
        if abs(now.timestamp() - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
            raise Unauthorized("request signature timestamp is outside the 5-minute tolerance")
        secret = self._cipher.decrypt(key.signing_secret_encrypted, context=key.id.bytes)
        expected = request_signature(secret, timestamp, request.method, request.path, request.body)
        if not hmac.compare_digest(expected, signature):
            raise Unauthorized("request signature does not match")
        if not await self._nonces.claim(f"sig:{key.id}:{signature}", SIGNATURE_TOLERANCE_SECONDS * 2):
            raise Unauthorized("request signature was already used (replay)")


def request_signature(secret: bytes, timestamp: int, method: str, path: str, body: bytes) -> str:
    message = f"{timestamp}.{method.upper()}.{path}.".encode() + body
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _parse_signature_header(header: str | None) -> tuple[int, str] | None:
    if not header:
        return None
    fields = dict(part.strip().split("=", 1) for part in header.split(",") if "=" in part)
    try:
        return int(fields["t"]), fields["v1"]
    except (KeyError, ValueError):
        return None
