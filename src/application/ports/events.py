"""Ports of the event backbone. Use cases never publish: they stage events and tasks in the outbox
(`uow.outbox`) with their state change, and the relay hands committed rows to these ports."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from enum import StrEnum
from typing import Any, Protocol

import attrs

from application.ports.tasks import Task
from application.ports.webhooks import WebhookRepository
from domain.common.ids import TenantId
from domain.events import Event


class EventPublisher(Protocol):
    async def publish(self, events: Sequence[Event]) -> None:
        """Return once the transport has durably accepted every event (broker confirms), in order
        per aggregate; raise if any of them was not accepted."""
        ...


class TaskQueue(Protocol):
    async def enqueue(self, tasks: Sequence[Task]) -> None:
        """Return once every task is durably queued (or, in process, handled); raise otherwise.
        Tasks with the same ordering key are handled one at a time, in the order given."""
        ...


class OutboxKind(StrEnum):
    EVENT = "event"
    TASK = "task"


class OutboxClaim(Protocol):
    """Committed outbox rows held by one relay until its transaction ends: another relay skips them
    and every later row of the same aggregates, so per-aggregate order holds with several relays."""

    @property
    def events(self) -> list[Event]: ...

    @property
    def tasks(self) -> list[Task]: ...

    @property
    def busy(self) -> bool:
        """Nothing was claimed although rows are pending: other relays hold them or their aggregates."""
        ...

    @property
    def window_full(self) -> bool:
        """The claim looked at `limit` pending rows (some perhaps held elsewhere), so more may be pending
        behind them. Otherwise it saw every row pending when it began: later ones notify anew."""
        ...

    @property
    def webhook_tenants(self) -> set[TenantId]:
        """Tenants of the claimed events that have an active webhook (the rest need no fan-out)."""
        ...

    @property
    def webhooks(self) -> WebhookRepository:
        """Webhook storage inside the relay's transaction (deliveries are scheduled with the mark)."""
        ...

    async def mark_published(self) -> None:
        """Mark the claimed rows published and commit; without it every row stays pending."""
        ...


class OutboxFeed(Protocol):
    def claim(self, kind: OutboxKind, limit: int) -> AbstractAsyncContextManager[OutboxClaim]:
        """Claim up to `limit` pending rows of one kind, oldest first."""
        ...

    async def prune(self, *, published_before_seconds: float) -> int:
        """Delete rows published longer ago than the retention; returns how many went."""
        ...


@attrs.frozen
class DeadLetter:
    # "task", or "event:<consumer>" for an event one consumer gave up on.
    kind: str
    tenant_id: TenantId
    type: str
    envelope: dict[str, Any]
    error: str


class DeadLetters(Protocol):
    async def record(self, letter: DeadLetter) -> None:
        """Keep a message whose handler exhausted its attempts, for an operator to inspect."""
        ...
