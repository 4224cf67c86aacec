"""A send's outcome in one statement on a tenant-scoped session (see tenant_sessions): the message's
delivery columns and the outbox row of its event, committed together in one round trip. Every reply and
agent message ends with this write."""

from __future__ import annotations

import msgspec

from adapters.postgres.notifications import OutboxWakeups
from adapters.postgres.repositories.messages import _error_json
from adapters.postgres.tenant_sessions import TenantSessions
from application.observability import correlation_id_var
from application.ports.events import OutboxKind
from domain.conversations.message import Message
from domain.events import Event

# The partition key (created_at) lets Postgres touch one monthly partition only. The event is staged
# whether or not the message row is still there, as the two statements it replaces did.
_RECORD = """
WITH delivery AS (
  UPDATE messages SET status = $4, error = $5::jsonb, provider_message_id = $6
  WHERE tenant_id = $1 AND id = $2 AND created_at = $3
)
INSERT INTO outbox (tenant_id, id, kind, aggregate_key, type, payload, correlation_id, created_at)
VALUES ($1, $7, 'event', $8, $9, $10::jsonb, $11, $12)
"""


class PostgresDeliveryOutcomes:
    def __init__(self, sessions: TenantSessions, wakeups: OutboxWakeups) -> None:
        self._sessions = sessions
        self._wakeups = wakeups
        self._encode = msgspec.json.Encoder().encode

    async def record(self, message: Message, event: Event) -> None:
        async with self._sessions.scoped_to(message.tenant_id) as connection:
            await connection.execute(
                _RECORD,
                message.tenant_id,
                message.id,
                message.created_at,
                str(message.status),
                # No error is JSON null, as the message repository stores it.
                self._encode(_error_json(message.error)).decode(),
                message.provider_message_id,
                event.id,
                event.aggregate_key,
                event.type,
                self._encode(event.envelope()).decode(),
                event.correlation_id or correlation_id_var.get(),
                event.occurred_at,
            )
        self._wakeups.committed((OutboxKind.EVENT,))
