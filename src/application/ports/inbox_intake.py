"""The webhook acknowledgement's one write: new inbox entries and the tasks that process them."""

from __future__ import annotations

from typing import Protocol

from application.ports.tasks import Task
from domain.channels.inbox import InboxEntry
from domain.common.ids import TenantId


class InboxIntake(Protocol):
    async def store_new(self, tenant_id: TenantId, entries: list[tuple[InboxEntry, Task]]) -> list[InboxEntry]:
        """In one committed transaction of the tenant: insert the entries whose (channel, provider key) is
        not stored yet and queue each inserted entry's task, in the given order; return the inserted
        entries. Entries must have distinct (channel, provider key). Returns only after the commit."""
        ...
