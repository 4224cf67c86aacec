"""Webhook intake without SQLAlchemy: the acknowledgement waits for this write, so it is one statement
(inbox and outbox together) committed on its own, one round trip, on a tenant-scoped session
(see tenant_sessions)."""

from __future__ import annotations

import msgspec

from adapters.postgres.notifications import OutboxWakeups
from adapters.postgres.tenant_sessions import TenantSessions
from application.observability import correlation_id_var
from application.ports.events import OutboxKind
from application.ports.tasks import Task
from domain.channels.inbox import InboxEntry
from domain.common.ids import TenantId

# Rows arrive as one array per column. A task's outbox row is written only when its entry was new
# (the insert returned it), in the order given: `seq` is the order the worker handles them in.
_STORE_NEW = """
WITH new_entries AS (
  INSERT INTO inbox (tenant_id, id, channel_id, kind, provider_event_key, contact_id, payload, received_at)
  SELECT $1, e.id, e.channel_id, e.kind, e.provider_event_key, e.contact_id, e.payload::jsonb, e.received_at
  FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
    AS e (id, channel_id, kind, provider_event_key, contact_id, payload, received_at)
  ON CONFLICT (tenant_id, channel_id, provider_event_key) DO NOTHING
  RETURNING id
), staged AS (
  INSERT INTO outbox (tenant_id, id, kind, aggregate_key, type, payload, correlation_id)
  SELECT $1, t.id, 'task', t.aggregate_key, t.type, t.payload::jsonb, t.correlation_id
  FROM unnest($9::uuid[], $10::uuid[], $11::text[], $12::text[], $13::text[], $14::text[]) WITH ORDINALITY
    AS t (entry_id, id, aggregate_key, type, payload, correlation_id, position)
  WHERE t.entry_id IN (SELECT id FROM new_entries)
  ORDER BY t.position
)
SELECT id FROM new_entries
"""


class PostgresInboxIntake:
    def __init__(self, sessions: TenantSessions, wakeups: OutboxWakeups) -> None:
        self._sessions = sessions
        self._wakeups = wakeups
        self._encode = msgspec.json.Encoder().encode

    async def store_new(self, tenant_id: TenantId, entries: list[tuple[InboxEntry, Task]]) -> list[InboxEntry]:
        if not entries:
            return []
        encode = self._encode
        correlation_id = correlation_id_var.get()
        arguments = (
            tenant_id,
            [entry.id for entry, _ in entries],
            [entry.channel_id for entry, _ in entries],
            [str(entry.kind) for entry, _ in entries],
            [entry.provider_event_key for entry, _ in entries],
            [entry.contact_id for entry, _ in entries],
            [encode(entry.payload).decode() for entry, _ in entries],
            [entry.received_at for entry, _ in entries],
            [entry.id for entry, _ in entries],
            [task.id for _, task in entries],
            [task.ordering_key or f"task:{task.id}" for _, task in entries],
            [task.name for _, task in entries],
            [encode(task.envelope()).decode() for _, task in entries],
            [task.correlation_id or correlation_id for _, task in entries],
        )
        # Committed or not is unknown when the connection is lost (ServiceUnavailable): the webhook is not
        # acknowledged, and the redelivery is deduplicated.
        async with self._sessions.scoped_to(tenant_id) as connection:
            rows = await connection.fetch(_STORE_NEW, *arguments)
        if rows:
            self._wakeups.committed((OutboxKind.TASK,))
        new_ids = {row[0] for row in rows}
        return [entry for entry, _ in entries if entry.id in new_ids]
