"""This API process's counters in Prometheus' text format, for the platform's operators (admin keys).

Each process counts what it received itself: a scraper reads every process (each pod or instance) and
sums, as Prometheus does with its `instance` label.
"""

from __future__ import annotations

from dishka import FromDishka
from litestar import Response, get

from application.inbox.accept_webhook import ReadWebhookCounters
from entrypoints.http.security import Actor

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@get(
    "/api/metrics",
    tags=["operations"],
    summary="Counters of this API process (Prometheus text format; admin)",
    media_type=PROMETHEUS_TEXT,
)
async def metrics(actor: Actor, use_case: FromDishka[ReadWebhookCounters]) -> Response[str]:
    counters = await use_case.execute(actor)
    events = {
        "accepted": counters.accepted,
        "duplicate": counters.duplicates,
        "unrouted": counters.unrouted,
        "skipped": counters.skipped,
    }
    lines = [
        "# HELP metachat_webhook_events_total Events of signed Meta webhooks: stored for the worker, seen before,"
        " for a number or page no channel owns, or unreadable.",
        "# TYPE metachat_webhook_events_total counter",
        *(f'metachat_webhook_events_total{{outcome="{outcome}"}} {count}' for outcome, count in events.items()),
        "# HELP metachat_webhook_requests_rejected_total Webhook POSTs refused for a missing or wrong signature.",
        "# TYPE metachat_webhook_requests_rejected_total counter",
        f"metachat_webhook_requests_rejected_total {counters.rejected}",
    ]
    return Response("\n".join(lines) + "\n", media_type=PROMETHEUS_TEXT)
