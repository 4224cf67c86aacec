from __future__ import annotations

import attrs

from application.auth import Principal
from application.ports.unit_of_work import UnitOfWorkFactory
from application.tenants.views import TenantView
from domain.common.ids import TenantId, new_id
from domain.events import Event, EventType
from domain.tenants.api_key import Scope
from domain.tenants.tenant import Tenant, TenantSettings


@attrs.frozen
class CreateTenantInput:
    actor: Principal
    name: str
    settings: TenantSettings = attrs.field(factory=TenantSettings)


class CreateTenant:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: CreateTenantInput) -> TenantView:
        data.actor.require(Scope.ADMIN)
        tenant = Tenant(id=TenantId(new_id()), name=data.name, settings=data.settings)
        async with self._uow_factory(tenant.id) as uow:
            await uow.tenants.add(tenant)
            await uow.outbox.add([tenant_event(EventType.TENANT_CREATED, tenant)])
            await uow.commit()
        return TenantView.of(tenant)


def tenant_event(event_type: EventType, tenant: Tenant) -> Event:
    return Event(
        type=event_type,
        tenant_id=tenant.id,
        aggregate_key=f"tenant:{tenant.id}",
        data={"tenant_id": str(tenant.id), "name": tenant.name},
    )
