from __future__ import annotations

from typing import Any

import attrs

from application.auth import Principal
from application.channels.views import ChannelView, channel_event
from application.errors import NotFound
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.channels.channel import Channel, ChannelKind, build_config
from domain.common.ids import ChannelId, TenantId, new_id
from domain.events import EventType
from domain.tenants.api_key import Scope


@attrs.frozen
class RegisterChannelInput:
    actor: Principal
    tenant_id: TenantId
    kind: ChannelKind
    name: str
    config: dict[str, Any]
    secrets: dict[str, str]
    active: bool = True


class RegisterChannel:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: RegisterChannelInput) -> ChannelView:
        data.actor.require(Scope.WRITE, data.tenant_id)
        channel = Channel(
            id=ChannelId(new_id()),
            tenant_id=data.tenant_id,
            kind=data.kind,
            name=data.name,
            config=build_config(data.kind, data.config),
            secrets={key: value for key, value in data.secrets.items() if value},
            active=data.active,
        )
        async with self._uow_factory(data.tenant_id) as uow:
            if await uow.tenants.get(data.tenant_id) is None:
                raise NotFound("tenant not found")
            await uow.channels.add(channel)
            await uow.outbox.add([channel_event(EventType.CHANNEL_CREATED, channel)])
            await uow.commit()
        return ChannelView.of(channel)
