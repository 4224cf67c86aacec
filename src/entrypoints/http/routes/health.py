from __future__ import annotations

import msgspec
from dishka import FromDishka
from litestar import Response, get
from litestar.openapi.datastructures import ResponseSpec

from application.check_health import CheckHealth


class DependencyHealth(msgspec.Struct):
    name: str
    healthy: bool
    required: bool
    latency_ms: float
    detail: str


class HealthResponse(msgspec.Struct):
    status: str
    dependencies: list[DependencyHealth]


@get(
    "/api/health",
    tags=["health"],
    summary="Liveness and readiness of the database, broker and cache",
    responses={503: ResponseSpec(HealthResponse, description="A required dependency is unavailable")},
)
async def health(use_case: FromDishka[CheckHealth]) -> Response[HealthResponse]:
    report = await use_case.execute()
    body = HealthResponse(
        status="ok" if report.healthy else "unavailable",
        dependencies=[
            DependencyHealth(d.name, d.healthy, d.required, round(d.latency_ms, 2), d.detail)
            for d in report.dependencies
        ],
    )
    return Response(body, status_code=200 if report.healthy else 503)
