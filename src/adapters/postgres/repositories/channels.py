from __future__ import annotations

import json
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import attrs
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.postgres.driver_statement import DriverStatement
from adapters.postgres.tables import channel_routes, channels
from application.errors import Conflict
from application.ports.repositories import ChannelRoute
from application.ports.security import SecretCipher
from domain.channels.channel import Channel, ChannelKind, build_config
from domain.common.ids import ChannelId, TenantId

# Run on the driver (see driver_statement): read on every message.
_GET = DriverStatement(
    channels.select().where(channels.c.tenant_id == sa.bindparam("b_tenant_id"), channels.c.id == sa.bindparam("b_id"))
)


class PostgresChannelRepository:
    def __init__(self, connection: AsyncConnection, driver: asyncpg.Connection, cipher: SecretCipher) -> None:
        self._connection = connection
        self._driver = driver
        self._cipher = cipher

    async def add(self, channel: Channel) -> None:
        await self._connection.execute(channels.insert().values(**self._row(channel)))
        await self._claim_route(channel)

    async def get(self, tenant_id: TenantId, channel_id: ChannelId) -> Channel | None:
        row = await _GET.fetchrow(self._driver, {"b_tenant_id": tenant_id, "b_id": channel_id})
        return None if row is None else to_channel(row, self._cipher)

    async def list(self, tenant_id: TenantId) -> list[Channel]:
        rows = await self._connection.execute(
            channels.select().where(channels.c.tenant_id == tenant_id).order_by(channels.c.created_at)
        )
        return [to_channel(row._mapping, self._cipher) for row in rows]

    async def update(self, channel: Channel, *, previous_external_id: str) -> None:
        values = self._row(channel)
        await self._connection.execute(
            channels.update()
            .where(channels.c.tenant_id == channel.tenant_id, channels.c.id == channel.id)
            .values(**{key: value for key, value in values.items() if key not in ("tenant_id", "id", "created_at")})
        )
        if previous_external_id != channel.external_id:
            await self._connection.execute(
                channel_routes.delete().where(
                    channel_routes.c.kind == str(channel.kind),
                    channel_routes.c.external_id == previous_external_id,
                )
            )
            await self._claim_route(channel)

    async def delete(self, tenant_id: TenantId, channel_id: ChannelId) -> Channel | None:
        row = (
            await self._connection.execute(
                channels.delete()
                .where(channels.c.tenant_id == tenant_id, channels.c.id == channel_id)
                .returning(*channels.c)
            )
        ).one_or_none()
        return None if row is None else to_channel(row._mapping, self._cipher)

    async def route(self, kind: ChannelKind, external_id: str) -> ChannelRoute | None:
        row = (
            await self._connection.execute(
                sa.select(channel_routes.c.tenant_id, channel_routes.c.channel_id).where(
                    channel_routes.c.kind == str(kind), channel_routes.c.external_id == external_id
                )
            )
        ).one_or_none()
        return None if row is None else ChannelRoute(tenant_id=TenantId(row[0]), channel_id=ChannelId(row[1]))

    async def locate(self, channel_id: ChannelId) -> Channel | None:
        row = (await self._connection.execute(channels.select().where(channels.c.id == channel_id))).one_or_none()
        return None if row is None else to_channel(row._mapping, self._cipher)

    async def _claim_route(self, channel: Channel) -> None:
        claimed = await self._connection.scalar(
            insert(channel_routes)
            .values(
                kind=str(channel.kind),
                external_id=channel.external_id,
                tenant_id=channel.tenant_id,
                channel_id=channel.id,
            )
            .on_conflict_do_nothing()
            .returning(channel_routes.c.channel_id)
        )
        if claimed is None:
            raise Conflict(
                f"this {channel.kind} id is already connected to another channel",
                details={"external_id": channel.external_id},
            )

    def _row(self, channel: Channel) -> dict[str, Any]:
        secrets = (
            self._cipher.encrypt(json.dumps(channel.secrets).encode(), context=channel.id.bytes)
            if channel.secrets
            else None
        )
        return {
            "tenant_id": channel.tenant_id,
            "id": channel.id,
            "kind": str(channel.kind),
            "name": channel.name,
            "external_id": channel.external_id,
            "config": attrs.asdict(channel.config),
            "secrets_encrypted": secrets,
            "active": channel.active,
            "created_at": channel.created_at,
            "updated_at": channel.updated_at,
        }


def to_channel(row: Any, cipher: SecretCipher) -> Channel:
    """A channel from its row (a mapping of its columns), its secrets decrypted."""
    kind = ChannelKind(row["kind"])
    encrypted = row["secrets_encrypted"]
    secrets = json.loads(cipher.decrypt(bytes(encrypted), context=row["id"].bytes)) if encrypted else {}
    return Channel(
        id=ChannelId(row["id"]),
        tenant_id=TenantId(row["tenant_id"]),
        kind=kind,
        name=row["name"],
        config=build_config(kind, row["config"]),
        secrets=secrets,
        active=row["active"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
