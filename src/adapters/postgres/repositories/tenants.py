from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.postgres.tables import tenants
from application.errors import InvalidInput
from application.ports.repositories import Page
from domain.common.ids import TenantId
from domain.tenants.tenant import RateLimitSettings, Tenant, TenantSettings

# Built once: read on every message, so no statement construction and cache-key generation per call.
_GET = tenants.select().where(tenants.c.id == sa.bindparam("b_id"))


class PostgresTenantRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, tenant: Tenant) -> None:
        await self._connection.execute(
            tenants.insert().values(
                id=tenant.id,
                name=tenant.name,
                settings=tenant.settings.to_dict(),
                created_at=tenant.created_at,
                updated_at=tenant.updated_at,
            )
        )

    async def get(self, tenant_id: TenantId) -> Tenant | None:
        row = (await self._connection.execute(_GET, {"b_id": tenant_id})).one_or_none()
        return None if row is None else _to_tenant(row._mapping)

    async def list(self, *, limit: int, cursor: str | None, only: TenantId | None = None) -> Page[Tenant]:
        query = tenants.select().order_by(tenants.c.created_at, tenants.c.id).limit(limit + 1)
        if only is not None:
            query = query.where(tenants.c.id == only)
        if cursor is not None:
            created_at, last_id = _decode_cursor(cursor)
            query = query.where(sa.tuple_(tenants.c.created_at, tenants.c.id) > sa.tuple_(created_at, last_id))
        rows = (await self._connection.execute(query)).all()
        items = [_to_tenant(row._mapping) for row in rows[:limit]]
        next_cursor = _encode_cursor(items[-1]) if len(rows) > limit else None
        return Page(items=items, next_cursor=next_cursor)

    async def update(self, tenant: Tenant) -> None:
        await self._connection.execute(
            tenants.update()
            .where(tenants.c.id == tenant.id)
            .values(name=tenant.name, settings=tenant.settings.to_dict(), updated_at=tenant.updated_at)
        )

    async def delete(self, tenant_id: TenantId) -> bool:
        result = await self._connection.execute(tenants.delete().where(tenants.c.id == tenant_id))
        return bool(result.rowcount)

    async def rate_limits(self, tenant_id: TenantId) -> RateLimitSettings | None:
        value = await self._connection.scalar(
            sa.select(tenants.c.settings["rate_limits"]).where(tenants.c.id == tenant_id)
        )
        return None if value is None else TenantSettings.from_dict({"rate_limits": value}).rate_limits


def _to_tenant(mapping: Any) -> Tenant:
    return Tenant(
        id=TenantId(mapping["id"]),
        name=mapping["name"],
        settings=TenantSettings.from_dict(mapping["settings"]),
        created_at=mapping["created_at"],
        updated_at=mapping["updated_at"],
    )


def _encode_cursor(tenant: Tenant) -> str:
    raw = f"{tenant.created_at.isoformat()}|{tenant.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created_at, last_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created_at), uuid.UUID(last_id)
    except ValueError as error:
        raise InvalidInput("cursor is not valid", details={"field": "cursor"}) from error
