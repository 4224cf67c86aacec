"""LISTEN/NOTIFY: wake the relay and the webhook dispatcher the moment work commits. Notifications are
an accelerator only; the loops still poll, so a dropped listener costs latency, never events.

A process that runs relays wakes them itself when it commits outbox rows (`OutboxWakeups`): a NOTIFY
serialises commits (migration 0010 says why), and its own relays are right there."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Iterable

import asyncpg  # type: ignore[import-untyped]

from adapters.postgres.engine import to_driver_dsn
from application.ports.events import OutboxKind

logger = logging.getLogger(__name__)

OUTBOX_CHANNEL = "metachat_outbox"
WEBHOOK_DELIVERIES_CHANNEL = "metachat_webhook_deliveries"
# Session setting read by the outbox trigger: "off" and it does not notify (migration 0010).
OUTBOX_NOTIFY_SETTING = "app.outbox_notify"


class OutboxWakeups:
    """Who wakes the relays when this process commits outbox rows. Without relays here, the outbox
    trigger's NOTIFY does, for whichever process runs them. With relays here, this process's sessions
    start with the trigger off (`session_settings`), and every commit that wrote rows wakes the relays of
    their kinds directly (`committed`); the relays of other processes still find those rows on their poll,
    and rows that other processes commit still notify."""

    def __init__(self, *, relays_here: bool) -> None:
        self._relays_here = relays_here
        self._relays: list[tuple[OutboxKind, asyncio.Event]] = []

    @property
    def session_settings(self) -> dict[str, str]:
        """What this process's database sessions start with."""
        return {OUTBOX_NOTIFY_SETTING: "off"} if self._relays_here else {}

    def relay(self, kind: OutboxKind, wake: asyncio.Event) -> None:
        """A relay of this process, of rows of `kind`, woken by setting `wake`."""
        if not self._relays_here:
            raise RuntimeError("this process was set up to leave its relays' wake-ups to NOTIFY")
        self._relays.append((kind, wake))

    def committed(self, kinds: Collection[OutboxKind]) -> None:
        """Outbox rows of these kinds were just committed by a session of this process."""
        for kind, wake in self._relays:
            if kind in kinds:
                wake.set()


class PostgresNotifications:
    def __init__(self, database_url: str, channels: Iterable[str], *, reconnect_seconds: float = 1.0) -> None:
        self._dsn = to_driver_dsn(database_url)
        self._channels = tuple(channels)
        self._subscribers: list[tuple[str, str | None, asyncio.Event]] = []
        self._reconnect_seconds = reconnect_seconds
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def subscribe(self, channel: str, payload: str | None = None) -> asyncio.Event:
        """An event set whenever `channel` is notified (with this payload, when one is given) and on every
        reconnect, since notifications may have been missed meanwhile; its waiter clears it before
        looking for work."""
        if channel not in self._channels:
            raise ValueError(f"not listening on {channel!r}")
        signal = asyncio.Event()
        self._subscribers.append((channel, payload, signal))
        return signal

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="postgres-notifications")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        while True:
            try:
                await self._session()
                logger.warning("notification listener lost its database connection")
            except (OSError, asyncpg.PostgresError) as error:
                logger.warning("notification listener cannot connect", extra={"error": type(error).__name__})
            await asyncio.sleep(self._reconnect_seconds)

    async def _session(self) -> None:
        """Listen on one connection until it is lost."""
        lost = asyncio.Event()
        connection = await asyncpg.connect(self._dsn)
        try:
            connection.add_termination_listener(lambda _connection: lost.set())
            for channel in self._channels:
                await connection.add_listener(channel, self._on_notification)
            self.connected.set()
            self._wake_all()
            await lost.wait()
        finally:
            self.connected.clear()
            if not connection.is_closed():
                await connection.close()

    def _on_notification(self, _connection: object, _pid: int, channel: str, payload: str) -> None:
        for subscribed_channel, wanted_payload, signal in self._subscribers:
            if subscribed_channel == channel and wanted_payload in (None, payload):
                signal.set()

    def _wake_all(self) -> None:
        for _channel, _payload, signal in self._subscribers:
            signal.set()
