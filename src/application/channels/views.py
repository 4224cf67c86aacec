from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from domain.channels.channel import Channel, ChannelKind
from domain.common.ids import ChannelId, TenantId
from domain.events import Event


@attrs.frozen
class ChannelView:
    """A channel as callers see it: secrets are write-only, only their names show (masked)."""

    id: ChannelId
    tenant_id: TenantId
    kind: ChannelKind
    name: str
    config: dict[str, Any]
    secrets: dict[str, str]
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, channel: Channel) -> ChannelView:
        return cls(
            id=channel.id,
            tenant_id=channel.tenant_id,
            kind=channel.kind,
            name=channel.name,
            config=attrs.asdict(channel.config),
            secrets=channel.masked_secrets(),
            active=channel.active,
            created_at=channel.created_at,
            updated_at=channel.updated_at,
        )


def channel_event(event_type: str, channel: Channel) -> Event:
    return Event(
        type=event_type,
        tenant_id=channel.tenant_id,
        aggregate_key=f"channel:{channel.id}",
        data={
            "channel_id": str(channel.id),
            "kind": str(channel.kind),
            "name": channel.name,
            "external_id": channel.external_id,
            "active": channel.active,
        },
    )
