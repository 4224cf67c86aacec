"""Persistence ports. Every method that touches tenant data takes the tenant id explicitly."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, Protocol, TypeVar

import attrs

from application.ports.tasks import Task
from domain.channels.channel import Channel, ChannelKind
from domain.common.ids import ApiKeyId, ChannelId, TenantId
from domain.events import Event
from domain.tenants.api_key import ApiKey
from domain.tenants.tenant import RateLimitSettings, Tenant

T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@attrs.frozen
class ChannelRoute:
    tenant_id: TenantId
    channel_id: ChannelId


class TenantRepository(Protocol):
    async def add(self, tenant: Tenant) -> None: ...

    async def get(self, tenant_id: TenantId) -> Tenant | None: ...

    async def list(self, *, limit: int, cursor: str | None, only: TenantId | None = None) -> Page[Tenant]: ...

    async def update(self, tenant: Tenant) -> None: ...

    async def delete(self, tenant_id: TenantId) -> bool: ...

    async def rate_limits(self, tenant_id: TenantId) -> RateLimitSettings | None: ...


class ChannelRepository(Protocol):
    async def add(self, channel: Channel) -> None:
        """Raises Conflict when the channel's external id already belongs to another channel."""
        ...

    async def get(self, tenant_id: TenantId, channel_id: ChannelId) -> Channel | None: ...

    async def list(self, tenant_id: TenantId) -> list[Channel]: ...

    async def update(self, channel: Channel, *, previous_external_id: str) -> None: ...

    async def delete(self, tenant_id: TenantId, channel_id: ChannelId) -> Channel | None: ...

    async def route(self, kind: ChannelKind, external_id: str) -> ChannelRoute | None:
        """Platform-wide lookup: which tenant's channel owns this phone number id / page id / widget id."""
        ...

    async def locate(self, channel_id: ChannelId) -> Channel | None:
        """Platform-wide lookup by id (per-channel webhook URLs carry only the channel id)."""
        ...


class ApiKeyRepository(Protocol):
    async def add(self, key: ApiKey) -> None: ...

    async def get(self, tenant_id: TenantId | None, key_id: ApiKeyId) -> ApiKey | None: ...

    async def find_by_prefix(self, tenant_id: TenantId | None, prefix: str) -> ApiKey | None: ...

    async def list(self, tenant_id: TenantId | None) -> list[ApiKey]: ...

    async def update(self, key: ApiKey) -> None: ...

    async def touch(self, key: ApiKey, moment: datetime) -> None:
        """Record use; implementations may skip the write when the last record is recent."""
        ...


class Outbox(Protocol):
    async def add(self, events: list[Event]) -> None:
        """Stage events to be published once the surrounding transaction commits."""
        ...

    async def add_tasks(self, tasks: list[Task]) -> None:
        """Stage tasks for the worker; queued once the surrounding transaction commits."""
        ...
