from __future__ import annotations

import attrs

from application.auth import Principal
from application.errors import NotFound
from application.ports.unit_of_work import UnitOfWorkFactory
from application.tenants.create_tenant import tenant_event
from application.tenants.views import TenantView
from domain.common.ids import TenantId
from domain.events import EventType
from domain.tenants.api_key import Scope
from domain.tenants.tenant import TenantSettings


@attrs.frozen
class UpdateTenantInput:
    actor: Principal
    tenant_id: TenantId
    name: str | None = None
    settings: TenantSettings | None = None


class UpdateTenant:
    """PUT and PATCH both land here: PUT passes every field, PATCH only the ones it changes."""

    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: UpdateTenantInput) -> TenantView:
        data.actor.require(Scope.WRITE, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            tenant = await uow.tenants.get(data.tenant_id)
            if tenant is None:
                raise NotFound("tenant not found")
            if data.name is not None:
                tenant.rename(data.name)
            if data.settings is not None:
                tenant.change_settings(data.settings)
            await uow.tenants.update(tenant)
            await uow.outbox.add([tenant_event(EventType.TENANT_UPDATED, tenant)])
            await uow.commit()
        return TenantView.of(tenant)
