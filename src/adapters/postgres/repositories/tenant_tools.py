from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.postgres.tables import tenant_tools
from application.errors import Conflict
from domain.common.ids import TenantId
from domain.tools.tenant_tool import TenantTool, ToolId

_LIST = (
    tenant_tools.select().where(tenant_tools.c.tenant_id == sa.bindparam("b_tenant_id")).order_by(tenant_tools.c.name)
)


class PostgresTenantToolRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, tool: TenantTool) -> None:
        added = await self._connection.scalar(
            insert(tenant_tools)
            .values(**_row(tool))
            .on_conflict_do_nothing(index_elements=["tenant_id", "name"])
            .returning(tenant_tools.c.id)
        )
        if added is None:
            raise Conflict(f"a tool named {tool.name!r} exists already", details={"name": tool.name})

    async def get(self, tenant_id: TenantId, tool_id: ToolId) -> TenantTool | None:
        row = (
            await self._connection.execute(
                tenant_tools.select().where(tenant_tools.c.tenant_id == tenant_id, tenant_tools.c.id == tool_id)
            )
        ).one_or_none()
        return None if row is None else _to_tool(row._mapping)

    async def list(self, tenant_id: TenantId) -> list[TenantTool]:
        rows = await self._connection.execute(_LIST, {"b_tenant_id": tenant_id})
        return [_to_tool(row._mapping) for row in rows]

    async def update(self, tool: TenantTool) -> None:
        values = _row(tool)
        for key in ("tenant_id", "id", "name", "created_at"):
            values.pop(key)
        await self._connection.execute(
            tenant_tools.update()
            .where(tenant_tools.c.tenant_id == tool.tenant_id, tenant_tools.c.id == tool.id)
            .values(**values)
        )

    async def delete(self, tenant_id: TenantId, tool_id: ToolId) -> bool:
        deleted = await self._connection.scalar(
            tenant_tools.delete()
            .where(tenant_tools.c.tenant_id == tenant_id, tenant_tools.c.id == tool_id)
            .returning(tenant_tools.c.id)
        )
        return deleted is not None


def _row(tool: TenantTool) -> dict[str, Any]:
    return {
        "tenant_id": tool.tenant_id,
        "id": tool.id,
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters,
        "url": tool.url,
        "secret_encrypted": tool.secret_encrypted,
        "timeout_seconds": tool.timeout_seconds,
        "active": tool.active,
        "created_at": tool.created_at,
        "updated_at": tool.updated_at,
    }


def _to_tool(row: Any) -> TenantTool:
    return TenantTool(
        id=ToolId(row["id"]),
        tenant_id=TenantId(row["tenant_id"]),
        name=row["name"],
        description=row["description"],
        parameters=row["parameters"],
        url=row["url"],
        secret_encrypted=bytes(row["secret_encrypted"]),
        timeout_seconds=row["timeout_seconds"],
        active=row["active"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
