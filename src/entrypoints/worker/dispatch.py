"""Running one task or event through its handler: a REQUEST scope per message, the log context of the
message, bounded retries with doubling pauses, then a verdict the transport turns into ack/requeue/DLQ."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from dishka import AsyncContainer

from application.errors import ServiceUnavailable
from application.observability import correlation_id_var, tenant_id_var
from application.ports.tasks import Task
from domain.events import Event
from entrypoints.worker.registry import EventSubscription, TaskHandlers

logger = logging.getLogger(__name__)


class HandlerFailed(Exception):
    """Every attempt failed (or no handler exists): dead-letter the message."""


class NotSettled(Exception):
    """A dependency is down (database, broker): put the message back for later, without dead-lettering."""


class Dispatcher:
    def __init__(self, container: AsyncContainer, tasks: TaskHandlers, *, attempts: int, retry_seconds: float) -> None:
        self._container = container
        self._tasks = tasks
        self._attempts = max(attempts, 1)
        self._retry_seconds = retry_seconds

    async def handle_task(self, task: Task, request: AsyncContainer | None = None) -> None:
        handler = self._tasks.get(task.name)
        if handler is None:
            raise HandlerFailed(f"no handler is registered for task {task.name!r}")
        await self._run(
            lambda scope: handler(scope, task),
            request,
            kind="task",
            name=task.name,
            message_id=str(task.id),
            tenant_id=str(task.tenant_id),
            correlation_id=task.correlation_id,
        )

    async def handle_event(
        self, subscription: EventSubscription, event: Event, request: AsyncContainer | None = None
    ) -> None:
        await self._run(
            lambda scope: subscription.handler(scope, event),
            request,
            kind="event",
            name=f"{subscription.consumer}:{event.type}",
            message_id=str(event.id),
            tenant_id=str(event.tenant_id),
            correlation_id=event.correlation_id,
        )

    async def _run(
        self,
        call: Callable[[AsyncContainer], Awaitable[object]],
        request: AsyncContainer | None,
        *,
        kind: str,
        name: str,
        message_id: str,
        tenant_id: str,
        correlation_id: str | None,
    ) -> None:
        correlation_token = correlation_id_var.set(correlation_id or message_id)
        tenant_token = tenant_id_var.set(tenant_id)
        try:
            for attempt in range(1, self._attempts + 1):
                try:
                    if request is not None:
                        await call(request)
                    else:
                        async with self._container() as scope:
                            await call(scope)
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    last = attempt == self._attempts
                    logger.warning(
                        f"{kind} handler failed",
                        extra={"handler": name, "message_id": message_id, "attempt": attempt},
                        exc_info=last,
                    )
                    if last:
                        if isinstance(error, ServiceUnavailable):
                            raise NotSettled(str(error)) from error
                        raise HandlerFailed(f"{type(error).__name__}: {error}") from error
                await asyncio.sleep(self._retry_seconds * 2 ** (attempt - 1))
        finally:
            correlation_id_var.reset(correlation_token)
            tenant_id_var.reset(tenant_token)
