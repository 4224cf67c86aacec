"""Group commit for webhook acknowledgements: concurrent requests of one tenant share transactions.

An acknowledgement must wait for its rows to be durable, and each transaction costs a round trip
and a disk flush however many rows it holds. While a tenant's transactions are busy, the next requests queue up and are
written together in the following one, so throughput grows with load while a lone request still
commits at once.
"""

from __future__ import annotations

import asyncio
import logging

import attrs

from application.ports.inbox_intake import InboxIntake
from application.ports.tasks import Task
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
    """Up to `max_in_flight` transactions per tenant run at once; requests arriving meanwhile wait and
    go together into the next one (at most `max_batch_entries` rows).

    Two in flight: while one commits, the next is already on its way, so Postgres is never idle waiting
    for a round trip. More only split the waiting requests into smaller batches: with four, bench/webhooks
    saw batches of about three requests and Postgres spent 0.076 ms per webhook; with two, 0.045 ms, and
    the API 0.101 ms instead of 0.120, at the same p99 at 500 req/s."""

    def __init__(self, intake: InboxIntake, *, max_in_flight: int = 2, max_batch_entries: int = 1000) -> None:
        self._intake = intake
        self._max_in_flight = max_in_flight
        self._max_batch_entries = max_batch_entries
        self._waiting: dict[TenantId, list[_Waiting]] = {}
        self._in_flight: dict[TenantId, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def store(self, tenant_id: TenantId, entries: list[InboxEntry]) -> list[InboxEntry]:
        """Store the entries not stored before and queue one inbox.process task for each; return those.
        Returns once they are committed; raises what the transaction raised."""
        waiting = _Waiting(entries, asyncio.get_running_loop().create_future())
        self._waiting.setdefault(tenant_id, []).append(waiting)
        self._start_flush(tenant_id)
        # Shielded: a caller that goes away (client disconnect) must not cancel other callers' batch.
        return await asyncio.shield(waiting.stored)

    def _start_flush(self, tenant_id: TenantId) -> None:
        queue = self._waiting.get(tenant_id)
        if not queue or self._in_flight.get(tenant_id, 0) >= self._max_in_flight:
            return
        batch: list[_Waiting] = []
        size = 0
        while queue and (not batch or size + len(queue[0].entries) <= self._max_batch_entries):
            size += len(queue[0].entries)
            batch.append(queue.pop(0))
        if not queue:
            del self._waiting[tenant_id]
        self._in_flight[tenant_id] = self._in_flight.get(tenant_id, 0) + 1
        task = asyncio.create_task(self._flush(tenant_id, batch), name=f"inbox-writer-{tenant_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, tenant_id: TenantId, batch: list[_Waiting]) -> None:
        try:
            await self._write_batch(tenant_id, batch)
        finally:
            for waiting in batch:
                # Only a cancellation (shutdown) gets here with callers still waiting.
                _settle(waiting, error=RuntimeError("the inbox writer stopped"))
            remaining = self._in_flight[tenant_id] - 1
            if remaining:
                self._in_flight[tenant_id] = remaining
            else:
                del self._in_flight[tenant_id]
            self._start_flush(tenant_id)

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
        return await self._intake.store_new(
            tenant_id,
            [
                (
                    entry,
                    Task(
                        name=PROCESS_TASK,
                        tenant_id=tenant_id,
                        payload={"inbox_id": str(entry.id)},
                        ordering_key=ordering_key(entry),
                    ),
                )
                for entry in unique.values()
            ],
        )


def _settle(waiting: _Waiting, *, stored: list[InboxEntry] | None = None, error: BaseException | None = None) -> None:
    if waiting.stored.done():
        return
    if error is not None:
        waiting.stored.set_exception(error)
    else:
        waiting.stored.set_result(stored or [])
