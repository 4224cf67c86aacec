"""Work the worker must do (index a document, process an inbound message, deliver a webhook).

Tasks travel through the same transactional outbox as events, so a task is queued exactly when the
state change that asks for it commits."""

from __future__ import annotations

import uuid
import zlib
from typing import Any

import attrs

from domain.common.ids import TenantId, new_id


@attrs.frozen
class Task:
    # Dotted name the worker dispatches on, e.g. "inbox.process", "document.index", "webhook.deliver".
    name: str
    tenant_id: TenantId
    payload: dict[str, Any]
    id: uuid.UUID = attrs.field(factory=new_id)
    # Tasks with the same ordering key are handled one at a time, in the order they were queued
    # (for example every inbound message of one conversation).
    ordering_key: str | None = None
    correlation_id: str | None = None

    def envelope(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "tenant_id": str(self.tenant_id),
            "payload": self.payload,
            "ordering_key": self.ordering_key,
            "correlation_id": self.correlation_id,
        }

    @classmethod
    def from_envelope(cls, envelope: dict[str, Any]) -> Task:
        return cls(
            name=envelope["name"],
            tenant_id=TenantId(uuid.UUID(envelope["tenant_id"])),
            payload=envelope["payload"],
            id=uuid.UUID(envelope["id"]),
            ordering_key=envelope.get("ordering_key"),
            correlation_id=envelope.get("correlation_id"),
        )


def ordering_partition(task: Task, partitions: int) -> int:
    """Which of the worker's partitions handles the task: the same ordering key always lands on the
    same one (handled one at a time there); tasks without a key spread by id. Changing the number of
    partitions moves keys, so change it only with the queues drained."""
    key = task.ordering_key if task.ordering_key is not None else str(task.id)
    return zlib.crc32(key.encode()) % partitions
