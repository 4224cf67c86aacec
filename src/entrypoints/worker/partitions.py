"""A worker process's share of the task partitions, when several processes consume one RabbitMQ namespace.

Each partition queue is consumed by one process at a time, the one holding its lease
(adapters/postgres/partition_leases), with prefetch 1: the tasks of one ordering key run one at a time, in
queue order, whichever process runs them, and no task pays for a lock of its own. Every LEASE_CHECK_SECONDS
each process counts the members, gives up the partitions above its fair share (ceil(partitions / members))
and takes free ones up to it, so a new process gets its share and a dead one's partitions are taken over
within a couple of rounds. A partition is given up only after its consumer is cancelled and the task it
had taken is handled and acked: the next holder never runs alongside it.

A lost lease session (database restart, network) stops every task consumer of this process before new
leases are taken; the others can take the partitions once PostgreSQL has dropped the old session. A task
still running in this process at that moment may overlap the next task of its key in another: the
conversation's row locks and the reply ledger still keep the outcome to one reply per message."""

from __future__ import annotations

import asyncio
import logging
import random

import aiormq
import asyncpg  # type: ignore[import-untyped]
from aio_pika.exceptions import ChannelInvalidStateError

from adapters.postgres.engine import CONNECTION_ERRORS
from adapters.postgres.partition_leases import PostgresPartitionLeases
from adapters.rabbitmq.consumer import Consumption, DeliveryHandler, RabbitConsumers
from adapters.rabbitmq.topology import RabbitTopology

logger = logging.getLogger(__name__)

LEASE_CHECK_SECONDS = 1.0

_LEASE_ERRORS = (*CONNECTION_ERRORS, asyncpg.PostgresError, TimeoutError)
_BROKER_ERRORS = (aiormq.AMQPError, ChannelInvalidStateError, ConnectionError, TimeoutError)


def fair_share(partitions: int, members: int) -> int:
    """The most partitions one of `members` processes consumes; their shares add up to all partitions."""
    return -(-partitions // max(members, 1))


class TaskPartitions:
    def __init__(
        self,
        consumers: RabbitConsumers,
        topology: RabbitTopology,
        leases: PostgresPartitionLeases,
        handle: DeliveryHandler,
    ) -> None:
        self._consumers = consumers
        self._topology = topology
        self._leases = leases
        self._handle = handle
        self._consumed: dict[int, Consumption] = {}
        # Where this process starts looking for free partitions, so processes starting together do not all
        # try the same ones first.
        self._first = random.randrange(topology.task_partitions)

    @property
    def consumed(self) -> frozenset[int]:
        return frozenset(self._consumed)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(LEASE_CHECK_SECONDS)
            try:
                await self.balance()
            except Exception:
                # The next round starts from what is consumed now; a stopped loop would leave partitions alone.
                logger.exception("task partition round failed")

    async def balance(self) -> None:
        """One round: give up the partitions above this process's fair share, then take free ones up to it."""
        before = self.consumed
        try:
            if not self._leases.joined:
                await self._leases.reconnect()
            share = fair_share(self._topology.task_partitions, await self._leases.members())
            await self._give_up(list(self._consumed)[share:])
            for partition in self._free_partitions():
                if len(self._consumed) >= share:
                    break
                if await self._leases.take(partition):
                    await self._consume(partition)
        except _LEASE_ERRORS as error:
            logger.warning(
                "task partition leases lost: not consuming tasks until they are back",
                extra={"error": f"{type(error).__name__}: {error}"},
            )
            await self._stop_consuming()
        if self.consumed != before:
            # So an operator sees how the partitions are shared out among the worker processes.
            logger.info("consuming task partitions", extra={"partitions": sorted(self.consumed)})

    async def stop(self) -> None:
        """Stop consuming, once the tasks taken are done, and leave the group: the leases go with the session."""
        await self._stop_consuming()

    def _free_partitions(self) -> list[int]:
        count = self._topology.task_partitions
        return [
            partition
            for partition in ((self._first + offset) % count for offset in range(count))
            if partition not in self._consumed
        ]

    async def _consume(self, partition: int) -> None:
        try:
            self._consumed[partition] = await self._consumers.consume(
                self._topology.task_queue(partition),
                self._handle,
                prefetch=1,
                bound_to=self._topology.tasks_exchange,
            )
        except _BROKER_ERRORS as error:
            # RabbitMQ is unreachable: leave the partition to whoever can consume it.
            logger.warning(
                "could not consume a task partition",
                extra={"partition": partition, "error": f"{type(error).__name__}: {error}"},
            )
            await self._leases.give_up(partition)

    async def _give_up(self, partitions: list[int]) -> None:
        """Each lease once its partition's consumer is stopped (the consumers drain together; the lease
        session runs one statement at a time)."""
        await asyncio.gather(*(self._consumers.stop(self._consumed.pop(partition)) for partition in partitions))
        for partition in partitions:
            await self._leases.give_up(partition)

    async def _stop_consuming(self) -> None:
        consumed, self._consumed = self._consumed, {}
        try:
            await asyncio.gather(*(self._consumers.stop(consumption) for consumption in consumed.values()))
        finally:
            # Also when shutdown gives up waiting for a task: the process is going, and its leases with it.
            await self._leases.close()
