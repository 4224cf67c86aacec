"""Meta webhook endpoints: one platform-wide URL per kind, and per-channel URLs for tenants with their
own Meta app. GET is the subscription handshake, here; POST (events, verified, stored and acknowledged)
is served ahead of Litestar's pipeline by `entrypoints.http.webhook_intake`."""

from __future__ import annotations

import uuid
from typing import Any

from dishka import FromDishka
from litestar import Controller, MediaType, Request, Response, get
from litestar.openapi.spec import OpenAPIType, Parameter, Schema
from litestar.params import FromPath

from application.inbox.accept_webhook import SubscriptionCheck, VerifyWebhookSubscription
from domain.channels.channel import ChannelKind
from domain.common.ids import ChannelId
from entrypoints.http.dishka_scope import APP_SCOPE_ONLY
from entrypoints.http.openapi import documented
from entrypoints.http.webhook_intake import meta_kind

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
    # Everything the handshake uses lives for the whole app: no request scope.
    opt = APP_SCOPE_ONLY

    @get("/{kind:str}", summary="Meta subscription handshake (platform app)", opt=_HANDSHAKE)
    async def verify(
        self, request: Request[Any, Any, Any], kind: FromPath[str], use_case: FromDishka[VerifyWebhookSubscription]
    ) -> Response[str]:
        return await _handshake(request, meta_kind(kind), None, use_case)

    @get("/{kind:str}/{channel_id:uuid}", summary="Meta subscription handshake (a tenant's own app)", opt=_HANDSHAKE)
    async def verify_channel(
        self,
        request: Request[Any, Any, Any],
        kind: FromPath[str],
        channel_id: FromPath[uuid.UUID],
        use_case: FromDishka[VerifyWebhookSubscription],
    ) -> Response[str]:
        return await _handshake(request, meta_kind(kind), channel_id, use_case)
