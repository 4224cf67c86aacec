"""Tenant keys live in api_keys (keyed by tenant); platform admin keys in admin_api_keys."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.postgres.tables import admin_api_keys, api_keys
from domain.common.ids import ApiKeyId, TenantId
from domain.tenants.api_key import ApiKey, Scope

# Writing last_used_at on every request would turn each read into a write; a minute is precise enough.
TOUCH_GRANULARITY = timedelta(seconds=60)


class PostgresApiKeyRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, key: ApiKey) -> None:
        values = _row(key)
        if key.tenant_id is None:
            await self._connection.execute(admin_api_keys.insert().values(**values))
        else:
            await self._connection.execute(api_keys.insert().values(tenant_id=key.tenant_id, **values))

    async def get(self, tenant_id: TenantId | None, key_id: ApiKeyId) -> ApiKey | None:
        table, condition = _scoped(tenant_id)
        row = (await self._connection.execute(table.select().where(condition, table.c.id == key_id))).one_or_none()
        return None if row is None else _to_key(row._mapping, tenant_id)

    async def find_by_prefix(self, tenant_id: TenantId | None, prefix: str) -> ApiKey | None:
        table, condition = _scoped(tenant_id)
        row = (await self._connection.execute(table.select().where(condition, table.c.prefix == prefix))).one_or_none()
        return None if row is None else _to_key(row._mapping, tenant_id)

    async def list(self, tenant_id: TenantId | None) -> list[ApiKey]:
        table, condition = _scoped(tenant_id)
        rows = await self._connection.execute(table.select().where(condition).order_by(table.c.created_at))
        return [_to_key(row._mapping, tenant_id) for row in rows]

    async def update(self, key: ApiKey) -> None:
        table, condition = _scoped(key.tenant_id)
        await self._connection.execute(
            table.update()
            .where(condition, table.c.id == key.id)
            .values(expires_at=key.expires_at, revoked_at=key.revoked_at, name=key.name)
        )

    async def touch(self, key: ApiKey, moment: datetime) -> None:
        if key.last_used_at is not None and moment - key.last_used_at < TOUCH_GRANULARITY:
            return
        table, condition = _scoped(key.tenant_id)
        await self._connection.execute(
            table.update().where(condition, table.c.id == key.id).values(last_used_at=moment)
        )
        key.last_used_at = moment


def _scoped(tenant_id: TenantId | None) -> tuple[sa.Table, sa.ColumnElement[bool]]:
    if tenant_id is None:
        return admin_api_keys, sa.true()
    return api_keys, api_keys.c.tenant_id == tenant_id


def _row(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "secret_hash": key.secret_hash,
        "scopes": sorted(str(scope) for scope in key.scopes),
        "signing_secret_encrypted": key.signing_secret_encrypted,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    }


def _to_key(row: Any, tenant_id: TenantId | None) -> ApiKey:
    signing = row["signing_secret_encrypted"]
    return ApiKey(
        id=ApiKeyId(row["id"]),
        tenant_id=tenant_id,
        name=row["name"],
        prefix=row["prefix"],
        secret_hash=bytes(row["secret_hash"]),
        scopes=frozenset(Scope(scope) for scope in row["scopes"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
        signing_secret_encrypted=None if signing is None else bytes(signing),
    )
