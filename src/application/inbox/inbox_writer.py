"""Group commit for webhook acknowledgements: concurrent requests of one tenant share one transaction.

An acknowledgement must wait for its rows to be durable, and the commit's disk flush dominates its
cost. While one transaction of a tenant is committing, the next requests queue up and are written
together in the following one, so throughput grows with load while a lone request still commits at once.
"""

from __future__ import annotations

import asyncio
import logging

import attrs

from application.ports.tasks import Task
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.channels.inbox import InboxEntry
from domain.common.ids import TenantId

logger = logging.getLogger(__name__)

PROCESS_TASK = "inbox.process"


def ordering_key(entry: InboxEntry) -> str:
    """The worker handles one contact's events of one channel one at a time, in arrival order."""
    return f"contact:{entry.channel_id}:{entry.contact_id}"


@attrs.define
class _Waiting:
    entries: list[InboxEntry]
    stored: asyncio.Future[list[InboxEntry]]


class InboxWriter:
    def __init__(self, uow_factory: UnitOfWorkFactory, *, max_batch_entries: int = 1000) -> None:
        self._uow_factory = uow_factory
        self._max_batch_entries = max_batch_entries
        self._waiting: dict[TenantId, list[_Waiting]] = {}
        self._flushers: dict[TenantId, asyncio.Task[None]] = {}

    async def store(self, tenant_id: TenantId, entries: list[InboxEntry]) -> list[InboxEntry]:
        """Store the entries not stored before and queue one inbox.process task for each; return those.
        Returns once they are committed; raises what the transaction raised."""
        waiting = _Waiting(entries, asyncio.get_running_loop().create_future())
        self._waiting.setdefault(tenant_id, []).append(waiting)
        if tenant_id not in self._flushers:
            self._flushers[tenant_id] = asyncio.create_task(self._flush(tenant_id), name=f"inbox-writer-{tenant_id}")
        # Shielded: a caller that goes away (client disconnect) must not cancel other callers' batch.
        return await asyncio.shield(waiting.stored)

    async def _flush(self, tenant_id: TenantId) -> None:
        try:
            while queue := self._waiting.get(tenant_id):
                batch, size = [], 0
                while queue and (not batch or size + len(queue[0].entries) <= self._max_batch_entries):
                    size += len(queue[0].entries)
                    batch.append(queue.pop(0))
                await self._write_batch(tenant_id, batch)
        finally:
            # Normally the queue is empty here; only a cancellation (shutdown) leaves callers behind.
            del self._flushers[tenant_id]
            for waiting in self._waiting.pop(tenant_id, []):
                _settle(waiting, error=RuntimeError("the inbox writer stopped"))

    async def _write_batch(self, tenant_id: TenantId, batch: list[_Waiting]) -> None:
        try:
            stored = await self._write(tenant_id, [entry for waiting in batch for entry in waiting.entries])
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0], error=error)
                return
            # One bad entry (say, a channel deleted a moment ago) must not fail its neighbours.
            logger.warning("inbox batch failed, writing its requests one by one", extra={"requests": len(batch)})
            for waiting in batch:
                try:
                    _settle(waiting, stored=await self._write(tenant_id, waiting.entries))
                except Exception as single_error:
                    _settle(waiting, error=single_error)
            return
        stored_ids = {entry.id for entry in stored}
        for waiting in batch:
            _settle(waiting, stored=[entry for entry in waiting.entries if entry.id in stored_ids])

    async def _write(self, tenant_id: TenantId, entries: list[InboxEntry]) -> list[InboxEntry]:
        # The same event in two requests of one batch: the first one stores it, the second is a duplicate.
        unique: dict[tuple[object, str], InboxEntry] = {}
        for entry in entries:
            unique.setdefault((entry.channel_id, entry.provider_event_key), entry)
        async with self._uow_factory(tenant_id) as uow:
            stored = await uow.inbox.add_new(list(unique.values()))
            await uow.outbox.add_tasks(
                [
                    Task(
                        name=PROCESS_TASK,
                        tenant_id=tenant_id,
                        payload={"inbox_id": str(entry.id)},
                        ordering_key=ordering_key(entry),
                    )
                    for entry in stored
                ]
            )
            await uow.commit()
        return stored


def _settle(waiting: _Waiting, *, stored: list[InboxEntry] | None = None, error: BaseException | None = None) -> None:
    if waiting.stored.done():
        return
    if error is not None:
        waiting.stored.set_exception(error)
    else:
        waiting.stored.set_result(stored or [])
