from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from dishka import FromDishka
from litestar import Controller, delete, get, patch, post, put
from litestar.params import FromPath, JSONBody, Parameter

from application.tenants.create_tenant import CreateTenant, CreateTenantInput
from application.tenants.delete_tenant import DeleteTenant, DeleteTenantInput
from application.tenants.read_tenants import GetTenant, GetTenantInput, ListTenants, ListTenantsInput
from application.tenants.update_tenant import UpdateTenant, UpdateTenantInput
from domain.common.ids import TenantId
from domain.tenants.tenant import TenantSettings
from entrypoints.http.schemas.common import to_plain
from entrypoints.http.schemas.tenants import (
    CreateTenantBody,
    PatchTenantBody,
    ReplaceTenantBody,
    TenantPage,
    TenantResponse,
)
from entrypoints.http.security import Actor


class TenantController(Controller):
    path = "/api/tenants"
    tags = ["tenants"]

    @post("/", summary="Create a tenant (admin)")
    async def create(
        self, actor: Actor, data: JSONBody[CreateTenantBody], use_case: FromDishka[CreateTenant]
    ) -> TenantResponse:
        view = await use_case.execute(
            CreateTenantInput(actor=actor, name=data.name, settings=TenantSettings.from_dict(to_plain(data.settings)))
        )
        return TenantResponse.of(view)

    @get("/", summary="List tenants (a tenant key sees only its own)")
    async def list_tenants(
        self,
        actor: Actor,
        use_case: FromDishka[ListTenants],
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Parameter(max_length=200)] = None,
    ) -> TenantPage:
        page = await use_case.execute(ListTenantsInput(actor=actor, limit=limit, cursor=cursor))
        return TenantPage(items=[TenantResponse.of(view) for view in page.items], next_cursor=page.next_cursor)

    @get("/{tenant_id:uuid}", summary="Get a tenant")
    async def get_tenant(
        self, actor: Actor, tenant_id: FromPath[uuid.UUID], use_case: FromDishka[GetTenant]
    ) -> TenantResponse:
        return TenantResponse.of(await use_case.execute(GetTenantInput(actor=actor, tenant_id=TenantId(tenant_id))))

    @put("/{tenant_id:uuid}", summary="Replace a tenant's name and settings")
    async def replace(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        data: JSONBody[ReplaceTenantBody],
        use_case: FromDishka[UpdateTenant],
    ) -> TenantResponse:
        view = await use_case.execute(
            UpdateTenantInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                name=data.name,
                settings=TenantSettings.from_dict(to_plain(data.settings)),
            )
        )
        return TenantResponse.of(view)

    @patch("/{tenant_id:uuid}", summary="Change some of a tenant's fields")
    async def patch_tenant(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        data: JSONBody[PatchTenantBody],
        use_case: FromDishka[UpdateTenant],
        current: FromDishka[GetTenant],
    ) -> TenantResponse:
        settings = None
        if data.settings is not msgspec.UNSET:
            existing = await current.execute(GetTenantInput(actor=actor, tenant_id=TenantId(tenant_id)))
            settings = existing.settings.patched(to_plain(data.settings))
        view = await use_case.execute(
            UpdateTenantInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                name=None if data.name is msgspec.UNSET else data.name,
                settings=settings,
            )
        )
        return TenantResponse.of(view)

    @delete("/{tenant_id:uuid}", summary="Delete a tenant and everything it owns (admin)", status_code=204)
    async def delete_tenant(
        self, actor: Actor, tenant_id: FromPath[uuid.UUID], use_case: FromDishka[DeleteTenant]
    ) -> None:
        await use_case.execute(DeleteTenantInput(actor=actor, tenant_id=TenantId(tenant_id)))
