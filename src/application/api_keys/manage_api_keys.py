"""Listing, revoking and rotating API keys."""

from __future__ import annotations

from datetime import timedelta

import attrs

from application.api_keys.issue_api_key import IssueApiKey
from application.api_keys.views import ApiKeyView, IssuedApiKey
from application.auth import Principal
from application.errors import InvalidInput, NotFound
from application.ports.clock import Clock
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import ApiKeyId, TenantId
from domain.tenants.api_key import Scope


@attrs.frozen
class ListApiKeysInput:
    actor: Principal
    tenant_id: TenantId


class ListApiKeys:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: ListApiKeysInput) -> list[ApiKeyView]:
        data.actor.require(Scope.READ, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            if await uow.tenants.get(data.tenant_id) is None:
                raise NotFound("tenant not found")
            keys = await uow.api_keys.list(data.tenant_id)
        return [ApiKeyView.of(key) for key in keys]


@attrs.frozen
class ApiKeyRef:
    actor: Principal
    tenant_id: TenantId
    key_id: ApiKeyId


class RevokeApiKey:
    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    async def execute(self, data: ApiKeyRef) -> None:
        data.actor.require(Scope.WRITE, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            key = await uow.api_keys.get(data.tenant_id, data.key_id)
            if key is None:
                raise NotFound("API key not found")
            key.revoke(self._clock.now())
            await uow.api_keys.update(key)
            await uow.commit()


@attrs.frozen
class RotateApiKeyInput:
    actor: Principal
    tenant_id: TenantId
    key_id: ApiKeyId
    # How long the old key keeps working so deployments can switch without downtime.
    overlap_seconds: int = 3600


MAX_OVERLAP = timedelta(days=30)


class RotateApiKey:
    def __init__(self, uow_factory: UnitOfWorkFactory, issuer: IssueApiKey, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._issuer = issuer
        self._clock = clock

    async def execute(self, data: RotateApiKeyInput) -> IssuedApiKey:
        data.actor.require(Scope.WRITE, data.tenant_id)
        overlap = timedelta(seconds=data.overlap_seconds)
        if not timedelta(0) <= overlap <= MAX_OVERLAP:
            raise InvalidInput("overlap_seconds must be between 0 and 30 days", details={"field": "overlap_seconds"})
        now = self._clock.now()
        async with self._uow_factory(data.tenant_id) as uow:
            old = await uow.api_keys.get(data.tenant_id, data.key_id)
            if old is None or not old.is_usable_at(now):
                raise NotFound("API key not found or no longer active")
            issued = await self._issuer.issue(
                uow,
                tenant_id=data.tenant_id,
                name=old.name,
                scopes=old.scopes,
                expires_at=old.expires_at,
                require_signature=old.requires_signature,
            )
            old.expire_at(now + overlap)
            await uow.api_keys.update(old)
            await uow.commit()
        return issued
