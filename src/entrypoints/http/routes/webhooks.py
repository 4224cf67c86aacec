"""Meta webhook endpoints: one platform-wide URL per kind, and per-channel URLs for tenants with their
own Meta app. GET is the subscription handshake; POST is verified, stored and acknowledged."""

from __future__ import annotations

import uuid
from typing import Any

from dishka import FromDishka
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.openapi.spec import OpenAPIType, Parameter, Schema
from litestar.params import FromPath

from application.errors import NotFound, PayloadTooLarge
from application.inbox.accept_webhook import (
    AcceptWebhook,
    AcceptWebhookInput,
    SubscriptionCheck,
    VerifyWebhookSubscription,
)
from application.ports.channel_adapters import MalformedWebhook
from domain.channels.channel import ChannelKind
from domain.common.ids import ChannelId
from entrypoints.http.dishka_scope import APP_SCOPE_ONLY
from entrypoints.http.errors import error_response
from entrypoints.http.openapi import documented, json_body
from entrypoints.http.schemas.meta_webhooks import WebhookAckResponse
from entrypoints.http.security import limit_public
from entrypoints.settings import Settings

SIGNATURE_HEADER = "x-hub-signature-256"
_META_KINDS = {"whatsapp": ChannelKind.WHATSAPP, "messenger": ChannelKind.MESSENGER}


# What Meta sends; the handlers read these themselves (the body as raw bytes, to check its signature).
_EVENTS = documented(
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
)
_HANDSHAKE = documented(
    403,
    parameters=tuple(
        Parameter(
            name=name, param_in="query", required=True, description=description, schema=Schema(type=OpenAPIType.STRING)
        )
        for name, description in (
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "the verify token set in Meta's dashboard"),
            ("hub.challenge", "echoed back as text/plain when the token matches"),
        )
    ),
)


def _kind(name: str) -> ChannelKind:
    kind = _META_KINDS.get(name)
    if kind is None:
        raise NotFound(f"no webhook endpoint for {name!r}")
    return kind


async def _read_body(request: Request[Any, Any, Any], limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"webhook bodies are limited to {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"webhook bodies are limited to {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _accept(
    request: Request[Any, Any, Any],
    kind: ChannelKind,
    channel_id: uuid.UUID | None,
    use_case: AcceptWebhook,
    settings: Settings,
) -> Response[Any]:
    await limit_public(request, "webhooks", settings.http.webhook_rate_limit_per_minute)
    body = await _read_body(request, settings.http.max_webhook_body_bytes)
    try:
        result = await use_case.execute(
            AcceptWebhookInput(
                kind=kind,
                body=body,
                signature=request.headers.get(SIGNATURE_HEADER),
                channel_id=None if channel_id is None else ChannelId(channel_id),
            )
        )
    except MalformedWebhook as error:
        return error_response(400, error.code, error.message)
    # Unknown numbers/pages still get 200: Meta would otherwise retry for days.
    return Response(
        WebhookAckResponse(accepted=result.accepted, duplicates=result.duplicates, unrouted=result.unrouted),
        status_code=200,
        media_type=MediaType.JSON,
    )


async def _handshake(
    request: Request[Any, Any, Any],
    kind: ChannelKind,
    channel_id: uuid.UUID | None,
    use_case: VerifyWebhookSubscription,
) -> Response[str]:
    params = request.query_params
    challenge = await use_case.execute(
        SubscriptionCheck(
            kind=kind,
            mode=params.get("hub.mode"),
            verify_token=params.get("hub.verify_token"),
            challenge=params.get("hub.challenge"),
            channel_id=None if channel_id is None else ChannelId(channel_id),
        )
    )
    return Response(challenge, status_code=200, media_type=MediaType.TEXT)


class WebhookController(Controller):
    path = "/webhooks"
    tags = ["webhooks"]
    # Handlers read the body themselves, against MAX_WEBHOOK_BODY_BYTES (Meta payloads reach 3 MB).
    request_max_body_size = None
    # Acknowledgements must be fast and everything they use lives for the whole app: no request scope.
    opt = APP_SCOPE_ONLY

    @get("/{kind:str}", summary="Meta subscription handshake (platform app)", opt=_HANDSHAKE)
    async def verify(
        self, request: Request[Any, Any, Any], kind: FromPath[str], use_case: FromDishka[VerifyWebhookSubscription]
    ) -> Response[str]:
        return await _handshake(request, _kind(kind), None, use_case)

    @get("/{kind:str}/{channel_id:uuid}", summary="Meta subscription handshake (a tenant's own app)", opt=_HANDSHAKE)
    async def verify_channel(
        self,
        request: Request[Any, Any, Any],
        kind: FromPath[str],
        channel_id: FromPath[uuid.UUID],
        use_case: FromDishka[VerifyWebhookSubscription],
    ) -> Response[str]:
        return await _handshake(request, _kind(kind), channel_id, use_case)

    @post("/{kind:str}", summary="Receive WhatsApp/Messenger events (platform app)", status_code=200, opt=_EVENTS)
    async def receive(
        self,
        request: Request[Any, Any, Any],
        kind: FromPath[str],
        use_case: FromDishka[AcceptWebhook],
        settings: FromDishka[Settings],
    ) -> Response[WebhookAckResponse]:
        return await _accept(request, _kind(kind), None, use_case, settings)

    @post(
        "/{kind:str}/{channel_id:uuid}",
        summary="Receive WhatsApp/Messenger events (a tenant's own app)",
        status_code=200,
        opt=_EVENTS,
    )
    async def receive_channel(
        self,
        request: Request[Any, Any, Any],
        kind: FromPath[str],
        channel_id: FromPath[uuid.UUID],
        use_case: FromDishka[AcceptWebhook],
        settings: FromDishka[Settings],
    ) -> Response[WebhookAckResponse]:
        return await _accept(request, _kind(kind), channel_id, use_case, settings)
