"""The webhook dispatcher: keeps up to `concurrency` deliveries in flight (different webhooks in
parallel, each webhook capped), wakes when deliveries are scheduled, when one finishes, or when the
next retry falls due. Retries live in the database (next_attempt_at), never in memory only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from dishka import AsyncContainer

from application.ports.clock import Clock
from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.webhooks import DueDelivery
from application.webhooks.deliver_webhooks import (
    ClaimWebhookDeliveries,
    ClaimWebhookDeliveriesInput,
    SendWebhookDelivery,
)
from entrypoints.settings import WebhookSettings

logger = logging.getLogger(__name__)

# The claim outlives the slowest attempt by this much before another worker may take the delivery.
LEASE_MARGIN_SECONDS = 60.0
ERROR_PAUSE_SECONDS = 1.0


class WebhookDeliveryLoop:
    def __init__(self, container: AsyncContainer, settings: WebhookSettings, wake: asyncio.Event) -> None:
        self._container = container
        self._settings = settings
        self._wake = wake
        self._in_flight: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        try:
            while True:
                self._wake.clear()
                free = self._settings.concurrency - len(self._in_flight)
                claimed: list[DueDelivery] = []
                try:
                    if free > 0:
                        claimed = await self._claim(free)
                    timeout = await self._until_next_due()
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    logger.warning("webhook dispatcher cannot reach the database", extra={"error": repr(error)})
                    timeout = ERROR_PAUSE_SECONDS
                for due in claimed:
                    task = asyncio.create_task(self._send(due))
                    self._in_flight.add(task)
                    task.add_done_callback(self._finished)
                if claimed and len(claimed) == free:
                    # Every slot is busy: the next round starts when one of them finishes.
                    timeout = self._settings.poll_seconds
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=timeout)
        finally:
            for task in self._in_flight:
                task.cancel()
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _claim(self, limit: int) -> list[DueDelivery]:
        async with self._container() as request:
            claim = await request.get(ClaimWebhookDeliveries)
            return await claim.execute(
                ClaimWebhookDeliveriesInput(
                    limit=limit,
                    lease_seconds=self._settings.timeout_seconds + LEASE_MARGIN_SECONDS,
                    per_webhook_limit=self._settings.per_webhook_concurrency,
                )
            )

    async def _until_next_due(self) -> float:
        uow_factory: UnitOfWorkFactory = await self._container.get(UnitOfWorkFactory)
        clock: Clock = await self._container.get(Clock)
        async with uow_factory(None) as uow:
            next_due: datetime | None = await uow.webhooks.next_due_at()
        if next_due is None:
            return self._settings.poll_seconds
        return max(0.0, min(self._settings.poll_seconds, (next_due - clock.now()).total_seconds()))

    async def _send(self, due: DueDelivery) -> None:
        try:
            async with self._container() as request:
                send = await request.get(SendWebhookDelivery)
                await send.execute(due)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Its claim lapses and another round picks it up again: at least once, never lost.
            logger.exception("webhook delivery could not be recorded", extra={"delivery_id": str(due.delivery.id)})

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()
