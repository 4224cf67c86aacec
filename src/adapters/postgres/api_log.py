"""Buffered writer of api_logs rows: requests enqueue, one task inserts in batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from application.ports.api_log import ApiLogEntry

logger = logging.getLogger(__name__)

_COLUMNS = (
    "tenant_id",
    "id",
    "created_at",
    "api_key_id",
    "method",
    "route",
    "status",
    "latency_ms",
    "client_ip",
    "correlation_id",
)


class PostgresApiLogSink:
    def __init__(self, engine: AsyncEngine, flush_interval: float = 0.5, max_buffer: int = 50_000) -> None:
        self._engine = engine
        self._flush_interval = flush_interval
        self._max_buffer = max_buffer
        self._buffer: list[ApiLogEntry] = []
        self._task: asyncio.Task[None] | None = None
        self._dropped = 0

    def record(self, entry: ApiLogEntry) -> None:
        if len(self._buffer) >= self._max_buffer:
            self._dropped += 1
            return
        self._buffer.append(entry)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="api-log-flusher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        records = [
            (
                entry.tenant_id,
                uuid.uuid4(),
                entry.created_at,
                entry.api_key_id,
                entry.method,
                entry.route,
                entry.status,
                entry.latency_ms,
                entry.client_ip,
                entry.correlation_id,
            )
            for entry in batch
        ]
        try:
            async with self._engine.connect() as connection:
                # Binary COPY from asyncpg itself: a multi-row INSERT through SQLAlchemy cost the API's event
                # loop milliseconds per flush (every parameter processed, a new statement for each batch
                # size) and Postgres a fresh parse and plan each time.
                driver = (await connection.get_raw_connection()).driver_connection
                if driver is None:
                    raise RuntimeError("the pooled connection was invalidated")
                await driver.copy_records_to_table("api_logs", records=records, columns=_COLUMNS)
        except Exception:
            logger.exception("could not write api logs", extra={"entries": len(batch)})
        if self._dropped:
            logger.warning("api log buffer overflowed", extra={"dropped": self._dropped})
            self._dropped = 0

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval)
            await self.flush()
