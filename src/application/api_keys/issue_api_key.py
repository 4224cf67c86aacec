from __future__ import annotations

import secrets
from datetime import datetime

import attrs

from application.api_keys.views import ApiKeyView, IssuedApiKey
from application.auth import Principal, issue_key_secret
from application.errors import InvalidInput, NotFound
from application.ports.clock import Clock
from application.ports.security import SecretCipher, SecretHasher
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from domain.common.ids import ApiKeyId, TenantId, new_id
from domain.tenants.api_key import ApiKey, Scope


@attrs.frozen
class IssueApiKeyInput:
    # None when the platform operator issues a key from the CLI.
    actor: Principal | None
    tenant_id: TenantId | None
    name: str
    scopes: frozenset[Scope]
    expires_at: datetime | None = None
    require_signature: bool = False


class IssueApiKey:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, hasher: SecretHasher, cipher: SecretCipher, clock: Clock
    ) -> None:
        self._uow_factory = uow_factory
        self._hasher = hasher
        self._cipher = cipher
        self._clock = clock

    async def execute(self, data: IssueApiKeyInput) -> IssuedApiKey:
        if data.actor is not None:
            data.actor.require(Scope.ADMIN if data.tenant_id is None else Scope.WRITE, data.tenant_id)
            if not data.actor.is_admin and not data.scopes <= data.actor.scopes | _implied(data.actor.scopes):
                raise InvalidInput("a key cannot grant scopes its creator does not have")
        if data.expires_at is not None and data.expires_at <= self._clock.now():
            raise InvalidInput("expires_at must be in the future", details={"field": "expires_at"})
        async with self._uow_factory(data.tenant_id) as uow:
            issued = await self.issue(
                uow,
                tenant_id=data.tenant_id,
                name=data.name,
                scopes=data.scopes,
                expires_at=data.expires_at,
                require_signature=data.require_signature,
            )
            await uow.commit()
        return issued

    async def issue(
        self,
        uow: UnitOfWork,
        *,
        tenant_id: TenantId | None,
        name: str,
        scopes: frozenset[Scope],
        expires_at: datetime | None,
        require_signature: bool,
    ) -> IssuedApiKey:
        """Create and stage a key inside the caller's unit of work (shared with rotation)."""
        if tenant_id is not None and await uow.tenants.get(tenant_id) is None:
            raise NotFound("tenant not found")
        secret = issue_key_secret(tenant_id)
        key_id = ApiKeyId(new_id())
        signing_secret = secrets.token_hex(32) if require_signature else None
        key = ApiKey(
            id=key_id,
            tenant_id=tenant_id,
            name=name,
            prefix=secret.prefix,
            secret_hash=self._hasher.hash(secret.plaintext),
            scopes=scopes,
            created_at=self._clock.now(),
            expires_at=expires_at,
            signing_secret_encrypted=(
                None if signing_secret is None else self._cipher.encrypt(signing_secret.encode(), context=key_id.bytes)
            ),
        )
        await uow.api_keys.add(key)
        return IssuedApiKey(key=ApiKeyView.of(key), plaintext=secret.plaintext, signing_secret=signing_secret)


def _implied(scopes: frozenset[Scope]) -> frozenset[Scope]:
    return frozenset(Scope) if Scope.ADMIN in scopes else frozenset()
