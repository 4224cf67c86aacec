"""Meta's event POSTs, `/webhooks/{kind}` and `/webhooks/{kind}/{channel_id}`, answered ahead of
Litestar's handler pipeline.

They are the platform's busiest requests and Meta times them, while their own work is small: check a
signature, store the events once. Through a Litestar handler (Request object, dependency injection,
response model, its exception middleware) the framework's share of each request was larger than the
work's; bench/webhooks has the figures. So this plain ASGI endpoint reads the scope itself and calls the
same use case, and keeps what the Litestar route gave: the request-context middleware (correlation id,
api_logs entry) around it, the per-IP budget, the body limit, errors in the API's one body, and its
operations in the OpenAPI document (`operations`). Everything else, the GET handshake on the same paths
included, goes on to Litestar.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import msgspec
from dishka import AsyncContainer
from litestar.enums import ScopeType
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Schema,
)
from litestar.types import ASGIApp, Receive, Scope, Send

from application.errors import ApplicationError, NotFound, PayloadTooLarge
from application.inbox.accept_webhook import AcceptWebhook, AcceptWebhookInput
from application.ports.channel_adapters import MalformedWebhook
from application.ports.rate_limiter import RateLimiter
from domain.channels.channel import ChannelKind
from domain.common.ids import ChannelId
from entrypoints.http.errors import application_error_status, error_body
from entrypoints.http.openapi import PlainOperation, documented, json_body, model_ref
from entrypoints.http.schemas.meta_webhooks import WebhookAckResponse
from entrypoints.http.security import charge_client
from entrypoints.settings import Settings

logger = logging.getLogger(__name__)

PREFIX = "/webhooks/"
KINDS = {"whatsapp": ChannelKind.WHATSAPP, "messenger": ChannelKind.MESSENGER}
SIGNATURE_HEADER = b"x-hub-signature-256"
_PLATFORM_PATH = "/webhooks/{kind}"
_CHANNEL_PATH = "/webhooks/{kind}/{channel_id}"
_JSON_HEADERS = ((b"content-type", b"application/json"),)
_encode = msgspec.json.Encoder().encode


class _Disconnected(Exception):
    """The client went away before its body arrived: there is nobody to answer."""


def in_front_of(litestar: ASGIApp, endpoint: ASGIApp) -> ASGIApp:
    """Meta's event POSTs to `endpoint`, every other request to Litestar."""

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["method"] == "POST" and scope["path"].startswith(PREFIX):
            await endpoint(scope, receive, send)
        else:
            await litestar(scope, receive, send)

    return dispatch


class WebhookIntakeEndpoint:
    """The ASGI endpoint. What it uses lives for the whole app, so it is taken from the container once."""

    def __init__(self, container: AsyncContainer) -> None:
        self._container = container
        self._dependencies: tuple[AcceptWebhook, RateLimiter, Settings] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: tuple[tuple[bytes, bytes], ...] = ()
        body: WebhookAckResponse | dict[str, Any]
        try:
            status, body = 200, await self._accept(scope, receive)
        except _Disconnected:
            return
        except MalformedWebhook as error:
            status, body = 400, error_body(error.code, error.message)
        except ApplicationError as error:
            status, extra = application_error_status(error)
            body = error_body(error.code, error.message, error.details)
            headers = tuple((name.lower().encode(), value.encode()) for name, value in (extra or {}).items())
        except Exception:
            logger.exception("unhandled error", extra={"route": scope["path"]})
            status, body = 500, error_body("internal_error", "an unexpected error occurred")
        content = _encode(body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(content)).encode()), *headers],
            }
        )
        await send({"type": "http.response.body", "body": content, "more_body": False})

    async def _accept(self, scope: Scope, receive: Receive) -> WebhookAckResponse:
        kind, channel_id = _route(scope)
        if self._dependencies is None:
            container = self._container
            self._dependencies = (
                await container.get(AcceptWebhook),
                await container.get(RateLimiter),
                await container.get(Settings),
            )
        use_case, limiter, settings = self._dependencies
        http = settings.http
        await charge_client(limiter, scope, "webhooks", http.webhook_rate_limit_per_minute, http.trust_forwarded_for)
        signature = None
        declared_length = None
        for name, value in scope["headers"]:
            if name == SIGNATURE_HEADER:
                signature = value.decode("latin-1")
            elif name == b"content-length":
                declared_length = value
        body = await _read_body(receive, declared_length, http.max_webhook_body_bytes)
        result = await use_case.execute(
            AcceptWebhookInput(kind=kind, body=body, signature=signature, channel_id=channel_id)
        )
        # Unknown numbers/pages still get 200: Meta would otherwise retry for days.
        return WebhookAckResponse(accepted=result.accepted, duplicates=result.duplicates, unrouted=result.unrouted)


def meta_kind(name: str) -> ChannelKind:
    """The channel kind a webhook URL names (`/webhooks/<name>`, POST here and the GET handshake)."""
    kind = KINDS.get(name)
    if kind is None:
        raise NotFound(f"no webhook endpoint for {name!r}")
    return kind


def _route(scope: Scope) -> tuple[ChannelKind, ChannelId | None]:
    """The kind and channel the path names; sets the route the request log records."""
    kind_name, _, channel = scope["path"][len(PREFIX) :].rstrip("/").partition("/")
    scope["path_template"] = _CHANNEL_PATH if channel else _PLATFORM_PATH
    kind = meta_kind(kind_name)
    if "/" in channel:
        raise NotFound(f"no webhook endpoint at {scope['path']!r}")
    if not channel:
        return kind, None
    try:
        return kind, ChannelId(uuid.UUID(channel))
    except ValueError:
        raise NotFound("no such channel") from None


async def _read_body(receive: Receive, declared_length: bytes | None, limit: int) -> bytes:
    # Meta's payloads reach 3 MB; a larger one is refused before it is read, or as soon as it passes the limit.
    if declared_length is not None and declared_length.isdigit() and int(declared_length) > limit:
        raise PayloadTooLarge(f"webhook bodies are limited to {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"webhook bodies are limited to {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _operation(summary: str, operation_id: str, path_parameters: tuple[Parameter, ...]) -> Operation:
    return Operation(
        tags=["webhooks"],
        summary=summary,
        operation_id=operation_id,
        parameters=list(path_parameters),
        responses={
            "200": OpenAPIResponse(
                description="Request fulfilled, document follows",
                content={"application/json": OpenAPIMediaType(schema=model_ref(WebhookAckResponse))},
            )
        },
        deprecated=False,
    )


def _path_parameter(name: str, schema: Schema) -> Parameter:
    return Parameter(name=name, param_in="path", required=True, schema=schema)


_KIND = _path_parameter("kind", Schema(type=OpenAPIType.STRING))
_CHANNEL_ID = _path_parameter("channel_id", Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.UUID))
# What Meta sends; read as raw bytes, to check its signature.
_EVENTS: dict[str, Any] = documented(
    400,
    401,
    403,
    404,
    413,
    429,
    body=json_body(
        "Meta's webhook payload as Meta sends it (`object` whatsapp_business_account or page, `entry`), "
        "hashed byte for byte for X-Hub-Signature-256"
    ),
    parameters=(
        Parameter(
            name="X-Hub-Signature-256",
            param_in="header",
            required=True,
            description="sha256=<hex HMAC-SHA256 of the raw body with the app secret>",
            schema=Schema(type=OpenAPIType.STRING),
        ),
    ),
    models=(WebhookAckResponse,),
)


def operations() -> tuple[PlainOperation, ...]:
    """Built for each app: `complete_openapi` completes the operations in place."""
    return (
        PlainOperation(
            _PLATFORM_PATH,
            "post",
            _operation("Receive WhatsApp/Messenger events (platform app)", "WebhooksKindReceive", (_KIND,)),
            _EVENTS,
        ),
        PlainOperation(
            _CHANNEL_PATH,
            "post",
            _operation(
                "Receive WhatsApp/Messenger events (a tenant's own app)",
                "WebhooksKindChannelIdReceiveChannel",
                (_KIND, _CHANNEL_ID),
            ),
            _EVENTS,
        ),
    )
