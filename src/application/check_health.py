from __future__ import annotations

import asyncio

import attrs

from application.ports.health import DependencyStatus, HealthProbe


@attrs.frozen
class HealthReport:
    healthy: bool
    dependencies: list[DependencyStatus]


class CheckHealth:
    """Readiness: every dependency probed concurrently; unhealthy if a required one is down."""

    def __init__(self, probes: list[HealthProbe], timeout_seconds: float = 2.0) -> None:
        self._probes = probes
        self._timeout = timeout_seconds

    async def execute(self) -> HealthReport:
        statuses = await asyncio.gather(*(self._probe(probe) for probe in self._probes))
        return HealthReport(
            healthy=all(status.healthy for status in statuses if status.required), dependencies=list(statuses)
        )

    async def _probe(self, probe: HealthProbe) -> DependencyStatus:
        try:
            return await asyncio.wait_for(probe.check(), self._timeout)
        except TimeoutError:
            return DependencyStatus(probe.name, False, probe.required, self._timeout * 1000, "timed out")
