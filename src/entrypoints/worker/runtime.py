"""The worker's moving parts in one place: transport consumers, the outbox relay (events and tasks),
the webhook dispatcher and housekeeping. `metachat worker` runs this alone; `metachat run` runs it next
to the API, in the same process and container."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import attrs
from dishka import AsyncContainer

from adapters.postgres.notifications import (
    OUTBOX_CHANNEL,
    WEBHOOK_DELIVERIES_CHANNEL,
    OutboxWakeups,
    PostgresNotifications,
)
from application.ports.events import OutboxFeed, OutboxKind
from entrypoints.settings import Settings
from entrypoints.worker.dispatch import Dispatcher
from entrypoints.worker.registry import PeriodicJob, WorkerHandlers
from entrypoints.worker.relay import EVENT_ROUND_INTERVAL_SECONDS, RelayLoop
from entrypoints.worker.transport import WorkerTransport
from entrypoints.worker.webhooks import WebhookDeliveryLoop

logger = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 3600.0
# How long shutdown waits for each of its steps (the loops, then the transport).
SHUTDOWN_GRACE_SECONDS = 10.0


@attrs.define
class RelayStatus:
    """Whether this process relays the outbox (the embedded transport's health)."""

    running: bool = False


@attrs.define
class WorkerServices:
    event_relay: RelayLoop
    task_relays: list[RelayLoop]
    deliveries: WebhookDeliveryLoop
    notifications: PostgresNotifications


@asynccontextmanager
async def worker_services(container: AsyncContainer, settings: Settings) -> AsyncIterator[WorkerServices]:
    if settings.database_url is None:
        raise RuntimeError("the worker needs a database URL (the runtime fills in the embedded one)")
    handlers = await container.get(WorkerHandlers)
    dispatcher = await container.get(Dispatcher)
    transport = await container.get(WorkerTransport)
    status = await container.get(RelayStatus)
    wakeups = await container.get(OutboxWakeups)
    notifications = PostgresNotifications(settings.database_url, [OUTBOX_CHANNEL, WEBHOOK_DELIVERIES_CHANNEL])

    def relay_wake(kind: OutboxKind) -> asyncio.Event:
        # Set by other processes' commits (NOTIFY) and by this process's own (OutboxWakeups).
        wake = notifications.subscribe(OUTBOX_CHANNEL, kind.value)
        wakeups.relay(kind, wake)
        return wake

    poll = settings.events.relay_poll_seconds
    services = WorkerServices(
        event_relay=RelayLoop(
            container,
            OutboxKind.EVENT,
            batch=settings.events.relay_batch_size,
            wake=relay_wake(OutboxKind.EVENT),
            poll_seconds=poll,
            round_interval_seconds=EVENT_ROUND_INTERVAL_SECONDS,
        ),
        task_relays=[
            RelayLoop(
                container,
                OutboxKind.TASK,
                batch=transport.task_relay_batch,
                wake=relay_wake(OutboxKind.TASK),
                poll_seconds=poll,
            )
            for _ in range(transport.task_relay_lanes)
        ],
        deliveries=WebhookDeliveryLoop(
            container, settings.webhooks, notifications.subscribe(WEBHOOK_DELIVERIES_CHANNEL)
        ),
        notifications=notifications,
    )
    await notifications.start()
    await transport.start(dispatcher, handlers)
    loops = [
        _supervised("event relay", services.event_relay.run()),
        *(_supervised("task relay", relay.run()) for relay in services.task_relays),
        _supervised("webhook dispatcher", services.deliveries.run()),
        _supervised("outbox pruning", _prune(container, settings)),
        *(_supervised(job.name, _periodic(container, job)) for job in handlers.periodic),
    ]
    status.running = True
    logger.info("worker running", extra={"task_handlers": handlers.tasks.names})
    try:
        yield services
    finally:
        status.running = False
        # Relays stop first, so nothing is handed to a transport that is shutting down.
        for loop in loops:
            loop.cancel()
        # Bounded: a loop that does not stop is named, with where it is stuck, rather than holding the
        # process (and a deployment's rollout) forever; its rows stay in the outbox for the next worker.
        _, stuck = await asyncio.wait(loops, timeout=SHUTDOWN_GRACE_SECONDS)
        for loop in stuck:
            logger.error("worker loop did not stop", extra={"loop": loop.get_name(), "at": _where(loop)})
        try:
            await asyncio.wait_for(transport.stop(), SHUTDOWN_GRACE_SECONDS)
        except TimeoutError:
            logger.error("the task transport did not stop; unacknowledged tasks will be delivered again")
        await notifications.stop()


def _where(task: asyncio.Task[None]) -> str:
    """The task's chain of awaiting coroutines, outermost first (Task.get_stack shows the outermost only)."""
    frames: list[str] = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None:
            frames.append(f"{frame.f_code.co_qualname} ({frame.f_code.co_filename}:{frame.f_lineno})")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return " -> ".join(frames)


def _supervised(name: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    async def run() -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("worker loop stopped unexpectedly", extra={"loop": name})
            raise

    return asyncio.create_task(run(), name=name)


async def _prune(container: AsyncContainer, settings: Settings) -> None:
    feed = await container.get(OutboxFeed)
    while True:
        try:
            removed = await feed.prune(published_before_seconds=settings.events.outbox_retention_hours * 3600)
            if removed:
                logger.info("pruned published outbox rows", extra={"removed": removed})
        except Exception as error:
            logger.warning("outbox pruning failed", extra={"error": repr(error)})
        await asyncio.sleep(PRUNE_EVERY_SECONDS)


async def _periodic(container: AsyncContainer, job: PeriodicJob) -> None:
    while True:
        await asyncio.sleep(job.every_seconds)
        try:
            async with container() as request:
                await job.run(request)
        except Exception as error:
            logger.warning("periodic job failed", extra={"job": job.name, "error": repr(error)})
