from __future__ import annotations

import msgspec


class WebhookAckResponse(msgspec.Struct):
    """What a POST from Meta did: events stored for the worker, seen before, or for no channel of ours."""

    accepted: int
    duplicates: int
    unrouted: int
