"""The idle timer: a conversation whose agent has been silent for the tenant's
handoff_idle_release_minutes goes back to the bot (run every minute by the worker)."""

from __future__ import annotations

from datetime import timedelta

import attrs

from application.conversations.state_changes import release
from application.ports.clock import Clock
from application.ports.unit_of_work import UnitOfWorkFactory

BATCH = 500
# Reply-ledger keys only guard against redelivery, which happens within minutes; a week is plenty.
LEDGER_RETENTION = timedelta(days=7)


@attrs.frozen
class IdleReleaseResult:
    released: int
    forgotten_claims: int


class ReleaseIdleHandoffs:
    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    async def execute(self) -> IdleReleaseResult:
        now = self._clock.now()
        async with self._uow_factory(None) as uow:
            due = await uow.conversation_queries.idle_handoffs(now, limit=BATCH)
            forgotten = await uow.turns.forget_claims_before(now - LEDGER_RETENTION)
            await uow.commit()
        released = 0
        for item in due:
            async with self._uow_factory(item.tenant_id) as uow:
                tenant = await uow.tenants.get(item.tenant_id)
                conversation = await uow.turns.lock_conversation(item.tenant_id, item.conversation_id)
                if tenant is None or conversation is None:
                    continue
                idle = timedelta(minutes=tenant.settings.handoff_idle_release_minutes)
                # Checked again under the lock: an agent may have replied since the query.
                if not conversation.idle_with_human_since(now, idle):
                    continue
                minutes = tenant.settings.handoff_idle_release_minutes
                if await release(uow, conversation, reason=f"no agent activity for {minutes} minutes"):
                    released += 1
                await uow.commit()
        return IdleReleaseResult(released=released, forgotten_claims=forgotten)
