"""Fan-out through Redis pub/sub: the worker publishes, every API process delivers to the sockets it holds.

Each process keeps one pub/sub connection and subscribes to a visitor's topic while at least one of its
sockets needs it. Pub/sub is fire-and-forget; that is enough because the database stays the record:
a lost CHANGED only delays delivery until the next one, and after a broken connection every local
subscriber is told to resynchronise from the database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError

from adapters.webchat.subscribers import LocalSubscribers
from application.ports.webchat import LiveEvent, LiveEventKind, VisitorTopic

logger = logging.getLogger(__name__)

_SUBSCRIBE_CONFIRM_SECONDS = 2.0


class RedisLiveFanout:
    def __init__(self, client: Redis, capacity: int = 1000) -> None:
        self._client = client
        self._local = LocalSubscribers(capacity)
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        # Commands on the pub/sub connection go one at a time; the reader task reads concurrently.
        self._commands = asyncio.Lock()
        # Resolved when Redis confirms a SUBSCRIBE: events published after that reach this process.
        self._confirmed: dict[str, asyncio.Future[None]] = {}

    async def publish(self, topic: VisitorTopic, event: LiveEvent) -> None:
        payload = json.dumps({"kind": str(event.kind), "data": event.data}, separators=(",", ":"))
        try:
            await self._client.publish(topic.key, payload)
        except (RedisError, OSError) as error:
            # Live updates are best effort: the message itself is stored, the widget gets it on resume.
            logger.warning("web chat fan-out publish failed", extra={"error": type(error).__name__})

    @asynccontextmanager
    async def subscribe(self, topic: VisitorTopic) -> AsyncIterator[AsyncIterator[LiveEvent]]:
        key = topic.key
        subscriber, first = self._local.add(key)
        try:
            if first:
                self._confirmed[key] = asyncio.get_running_loop().create_future()
                await self._command("subscribe", key)
            confirmed = self._confirmed.get(key)
            if confirmed is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(confirmed), _SUBSCRIBE_CONFIRM_SECONDS)
            yield subscriber.events()
        finally:
            if self._local.remove(key, subscriber):
                self._confirmed.pop(key, None)
                with contextlib.suppress(RedisError, OSError):
                    await self._command("unsubscribe", key)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves PubSub.aclose unannotated
            self._pubsub = None

    async def _command(self, name: str, key: str) -> None:
        async with self._commands:
            if self._pubsub is None:
                self._pubsub = self._client.pubsub()
            pubsub = self._pubsub
            try:
                if name == "subscribe":
                    await pubsub.subscribe(key)
                else:
                    await pubsub.unsubscribe(key)
            except (RedisError, OSError) as error:
                # The reader reconnects (and redis-py resubscribes every channel it knows) on its next read.
                logger.warning("web chat fan-out %s failed", name, extra={"error": type(error).__name__})
            if self._reader is None and pubsub.connection is not None:
                pubsub.connection.register_connect_callback(self._on_reconnect)
                self._reader = asyncio.create_task(self._read(pubsub), name="webchat-fanout-reader")

    async def _on_reconnect(self, _: AbstractConnection) -> None:
        # Whatever was published while the connection was down is gone: every socket re-reads the database.
        self._local.resync_all()

    async def _read(self, pubsub: PubSub) -> None:
        backoff = 0.2
        while True:
            try:
                message = await pubsub.get_message(timeout=1.0)
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any failure of the connection: wait, resync, read again
                logger.warning("web chat fan-out connection lost", extra={"error": type(error).__name__})
                self._local.resync_all()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        key = channel.decode() if isinstance(channel, bytes) else str(channel)
        if message["type"] == "subscribe":
            confirmed = self._confirmed.get(key)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            return
        if message["type"] != "message":
            return
        try:
            raw = json.loads(message["data"])
            event = LiveEvent(LiveEventKind(raw["kind"]), dict(raw.get("data") or {}))
        except (ValueError, KeyError, TypeError):
            logger.warning("web chat fan-out dropped a malformed event", extra={"topic": key})
            return
        self._local.deliver(key, event)
