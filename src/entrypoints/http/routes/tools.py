from __future__ import annotations

import uuid

from dishka import FromDishka
from litestar import Controller, delete, get, post, put
from litestar.params import FromPath, JSONBody

from application.tools.manage_tools import (
    DeleteTenantTool,
    GetTenantTool,
    ListTenantTools,
    ListTenantToolsInput,
    RegisterTenantTool,
    RegisterTenantToolInput,
    ReplaceTenantTool,
    ReplaceTenantToolInput,
    TenantToolRef,
)
from domain.common.ids import TenantId
from domain.tools.tenant_tool import ToolId
from entrypoints.http.openapi import documented
from entrypoints.http.schemas.tools import CreatedToolResponse, CreateToolBody, ReplaceToolBody, ToolResponse
from entrypoints.http.security import Actor


class ToolController(Controller):
    path = "/api/tenants/{tenant_id:uuid}/tools"
    tags = ["tools"]

    @post("/", summary="Register an HTTP tool the assistant may call (signed POST to your URL)", opt=documented(409))
    async def create(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        data: JSONBody[CreateToolBody],
        use_case: FromDishka[RegisterTenantTool],
    ) -> CreatedToolResponse:
        registered = await use_case.execute(
            RegisterTenantToolInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                name=data.name,
                description=data.description,
                parameters=data.parameters,
                url=data.url,
                secret=data.secret,
                timeout_seconds=data.timeout_seconds,
                active=data.active,
            )
        )
        return CreatedToolResponse(tool=ToolResponse.of(registered.tool), secret=registered.secret)

    @get("/", summary="List a tenant's tools")
    async def list_tools(
        self, actor: Actor, tenant_id: FromPath[uuid.UUID], use_case: FromDishka[ListTenantTools]
    ) -> list[ToolResponse]:
        views = await use_case.execute(ListTenantToolsInput(actor=actor, tenant_id=TenantId(tenant_id)))
        return [ToolResponse.of(view) for view in views]

    @get("/{tool_id:uuid}", summary="Get a tool (its secret is never shown)")
    async def get_tool(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        tool_id: FromPath[uuid.UUID],
        use_case: FromDishka[GetTenantTool],
    ) -> ToolResponse:
        view = await use_case.execute(
            TenantToolRef(actor=actor, tenant_id=TenantId(tenant_id), tool_id=ToolId(tool_id))
        )
        return ToolResponse.of(view)

    @put("/{tool_id:uuid}", summary="Redefine a tool (the name stays)", opt=documented(409))
    async def replace(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        tool_id: FromPath[uuid.UUID],
        data: JSONBody[ReplaceToolBody],
        use_case: FromDishka[ReplaceTenantTool],
    ) -> ToolResponse:
        view = await use_case.execute(
            ReplaceTenantToolInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                tool_id=ToolId(tool_id),
                description=data.description,
                parameters=data.parameters,
                url=data.url,
                timeout_seconds=data.timeout_seconds,
                active=data.active,
                secret=data.secret,
            )
        )
        return ToolResponse.of(view)

    @delete("/{tool_id:uuid}", summary="Remove a tool", status_code=204)
    async def delete_tool(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        tool_id: FromPath[uuid.UUID],
        use_case: FromDishka[DeleteTenantTool],
    ) -> None:
        await use_case.execute(TenantToolRef(actor=actor, tenant_id=TenantId(tenant_id), tool_id=ToolId(tool_id)))
