from __future__ import annotations

from datetime import datetime

import attrs

from domain.common.ids import TenantId
from domain.tenants.tenant import Tenant, TenantSettings


@attrs.frozen
class TenantView:
    id: TenantId
    name: str
    settings: TenantSettings
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, tenant: Tenant) -> TenantView:
        return cls(tenant.id, tenant.name, tenant.settings, tenant.created_at, tenant.updated_at)
