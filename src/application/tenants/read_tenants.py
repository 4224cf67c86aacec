"""Queries over tenants: one by id, or a page of them (a tenant key only ever sees its own)."""

from __future__ import annotations

import attrs

from application.auth import Principal
from application.errors import NotFound
from application.ports.repositories import Page
from application.ports.unit_of_work import UnitOfWorkFactory
from application.tenants.views import TenantView
from domain.common.ids import TenantId
from domain.tenants.api_key import Scope


@attrs.frozen
class GetTenantInput:
    actor: Principal
    tenant_id: TenantId


class GetTenant:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: GetTenantInput) -> TenantView:
        data.actor.require(Scope.READ, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            tenant = await uow.tenants.get(data.tenant_id)
        if tenant is None:
            raise NotFound("tenant not found")
        return TenantView.of(tenant)


@attrs.frozen
class ListTenantsInput:
    actor: Principal
    limit: int = 50
    cursor: str | None = None


class ListTenants:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: ListTenantsInput) -> Page[TenantView]:
        data.actor.require(Scope.READ, data.actor.tenant_id)
        async with self._uow_factory(data.actor.tenant_id) as uow:
            page = await uow.tenants.list(limit=data.limit, cursor=data.cursor, only=data.actor.tenant_id)
        return Page(items=[TenantView.of(tenant) for tenant in page.items], next_cursor=page.next_cursor)
