"""Reading, reconfiguring and removing a tenant's channels."""

from __future__ import annotations

from typing import Any

import attrs

from application.auth import Principal
from application.channels.views import ChannelView, channel_event
from application.errors import NotFound
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.channels.channel import ChannelKind, build_config
from domain.common.ids import ChannelId, TenantId
from domain.events import EventType
from domain.tenants.api_key import Scope


@attrs.frozen
class ChannelRef:
    actor: Principal
    tenant_id: TenantId
    channel_id: ChannelId


class GetChannel:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: ChannelRef) -> ChannelView:
        data.actor.require(Scope.READ, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            channel = await uow.channels.get(data.tenant_id, data.channel_id)
        if channel is None:
            raise NotFound("channel not found")
        return ChannelView.of(channel)


@attrs.frozen
class ListChannelsInput:
    actor: Principal
    tenant_id: TenantId


class ListChannels:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: ListChannelsInput) -> list[ChannelView]:
        data.actor.require(Scope.READ, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            if await uow.tenants.get(data.tenant_id) is None:
                raise NotFound("tenant not found")
            channels = await uow.channels.list(data.tenant_id)
        return [ChannelView.of(channel) for channel in channels]


@attrs.frozen
class ReplaceChannelInput:
    actor: Principal
    tenant_id: TenantId
    channel_id: ChannelId
    name: str
    config: dict[str, Any]
    # None keeps every secret; a given name replaces that secret, an empty value removes it.
    secrets: dict[str, str] | None
    active: bool


class ReplaceChannel:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: ReplaceChannelInput) -> ChannelView:
        data.actor.require(Scope.WRITE, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            channel = await uow.channels.get(data.tenant_id, data.channel_id)
            if channel is None:
                raise NotFound("channel not found")
            previous_external_id = channel.external_id
            config = dict(data.config)
            if channel.kind is ChannelKind.WEBCHAT:
                # The widget id is embedded in tenants' sites: it survives a reconfiguration.
                config.setdefault("widget_id", previous_external_id)
            channel.reconfigure(
                name=data.name,
                config=build_config(channel.kind, config),
                secrets=data.secrets,
                active=data.active,
            )
            await uow.channels.update(channel, previous_external_id=previous_external_id)
            await uow.outbox.add([channel_event(EventType.CHANNEL_UPDATED, channel)])
            await uow.commit()
        return ChannelView.of(channel)


class DeleteChannel:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: ChannelRef) -> None:
        data.actor.require(Scope.WRITE, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            channel = await uow.channels.delete(data.tenant_id, data.channel_id)
            if channel is None:
                raise NotFound("channel not found")
            await uow.outbox.add([channel_event(EventType.CHANNEL_DELETED, channel)])
            await uow.commit()
