from __future__ import annotations

import attrs

from application.auth import Principal
from application.errors import NotFound
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import TenantId
from domain.events import Event, EventType
from domain.tenants.api_key import Scope


@attrs.frozen
class DeleteTenantInput:
    actor: Principal
    tenant_id: TenantId


class DeleteTenant:
    """Deleting a tenant removes everything it owns (the database cascades from the tenant row)."""

    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: DeleteTenantInput) -> None:
        data.actor.require(Scope.ADMIN)
        async with self._uow_factory(data.tenant_id) as uow:
            if not await uow.tenants.delete(data.tenant_id):
                raise NotFound("tenant not found")
            await uow.outbox.add(
                [
                    Event(
                        type=EventType.TENANT_DELETED,
                        tenant_id=data.tenant_id,
                        aggregate_key=f"tenant:{data.tenant_id}",
                        data={"tenant_id": str(data.tenant_id)},
                    )
                ]
            )
            await uow.commit()
