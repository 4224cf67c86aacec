from typing import Protocol

import attrs


@attrs.frozen
class DependencyStatus:
    name: str
    healthy: bool
    required: bool
    latency_ms: float
    detail: str = ""


class HealthProbe(Protocol):
    name: str
    required: bool

    async def check(self) -> DependencyStatus: ...
