"""How the worker receives its tasks and events: from RabbitMQ, or from the in-process queues the relay
fills in embedded mode. The runtime only sees this interface."""

from __future__ import annotations

from typing import Protocol

from entrypoints.worker.dispatch import Dispatcher
from entrypoints.worker.registry import WorkerHandlers


class WorkerTransport(Protocol):
    # How the task relay should run on this transport: one lane of big batches when enqueueing is a
    # broker confirm; several lanes of single tasks when "queued" means "handled" (in process).
    task_relay_lanes: int
    task_relay_batch: int

    async def start(self, dispatcher: Dispatcher, handlers: WorkerHandlers) -> None: ...

    async def stop(self) -> None: ...
