from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from domain.common.ids import TenantId
from domain.tools.tenant_tool import TenantTool, ToolId


@attrs.frozen
class TenantToolView:
    """A tool as callers see it: the signing secret is write-only."""

    id: ToolId
    tenant_id: TenantId
    name: str
    description: str
    parameters: dict[str, Any]
    url: str
    timeout_seconds: float
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, tool: TenantTool) -> TenantToolView:
        return cls(
            id=tool.id,
            tenant_id=tool.tenant_id,
            name=tool.name,
            description=tool.description,
            parameters=tool.parameters,
            url=tool.url,
            timeout_seconds=tool.timeout_seconds,
            active=tool.active,
            created_at=tool.created_at,
            updated_at=tool.updated_at,
        )


@attrs.frozen
class RegisteredTenantTool:
    tool: TenantToolView
    # Shown once, at registration (generated when the caller did not bring one).
    secret: str
