"""Port for calling a tenant's HTTP tool on the assistant's behalf."""

from __future__ import annotations

from typing import Any, Protocol

import attrs


@attrs.frozen
class ToolRequest:
    url: str
    # Plaintext signing secret (decrypted for this call only).
    secret: str
    timeout_seconds: float
    # The JSON document POSTed: tool name, call id, arguments and the conversation it is for.
    body: dict[str, Any]


@attrs.frozen
class ToolResponse:
    ok: bool
    # What the model is shown: the endpoint's answer, or what went wrong in plain words.
    content: str
    status: int | None = None


class ToolInvoker(Protocol):
    async def invoke(self, request: ToolRequest) -> ToolResponse:
        """POST once with an HMAC signature; timeouts, refused addresses and error statuses come back
        as a response with ok=False, never as an exception."""
        ...
