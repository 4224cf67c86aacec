from __future__ import annotations

import uuid
from typing import Annotated, Literal

from dishka import FromDishka
from litestar import Controller, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, Parameter

from application.webhooks.create_webhook import CreateWebhook, CreateWebhookInput
from application.webhooks.delete_webhook import DeleteWebhook
from application.webhooks.get_webhook import GetWebhook, WebhookRef
from application.webhooks.list_webhook_deliveries import ListWebhookDeliveries, ListWebhookDeliveriesInput
from application.webhooks.list_webhooks import ListWebhooks, ListWebhooksInput
from application.webhooks.replay_webhook_delivery import ReplayWebhookDelivery, ReplayWebhookDeliveryInput
from application.webhooks.rotate_webhook_secret import RotateWebhookSecret, RotateWebhookSecretInput
from application.webhooks.update_webhook import UpdateWebhook, UpdateWebhookInput
from domain.common.ids import TenantId, WebhookId
from domain.webhooks.delivery import DeliveryId, DeliveryStatus
from entrypoints.http.openapi import documented
from entrypoints.http.schemas.tenant_webhooks import (
    CreateWebhookBody,
    DeliveryPage,
    DeliveryResponse,
    ReplaceWebhookBody,
    ReplayedDeliveryResponse,
    RotateWebhookSecretBody,
    WebhookResponse,
    WebhookWithSecretResponse,
)
from entrypoints.http.security import Actor


class TenantWebhookController(Controller):
    path = "/api/tenants/{tenant_id:uuid}/webhooks"
    tags = ["webhooks"]

    @post("/", summary="Subscribe a URL to the tenant's events (the signing secret is returned once)")
    async def create(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        data: JSONBody[CreateWebhookBody],
        use_case: FromDishka[CreateWebhook],
    ) -> WebhookWithSecretResponse:
        created = await use_case.execute(
            CreateWebhookInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                url=data.url,
                event_types=tuple(data.event_types),
                headers=data.headers,
                active=data.active,
                description=data.description,
            )
        )
        return WebhookWithSecretResponse.of(created)

    @get("/", summary="List the tenant's webhooks")
    async def list_webhooks(
        self, actor: Actor, tenant_id: FromPath[uuid.UUID], use_case: FromDishka[ListWebhooks]
    ) -> list[WebhookResponse]:
        views = await use_case.execute(ListWebhooksInput(actor=actor, tenant_id=TenantId(tenant_id)))
        return [WebhookResponse.of(view) for view in views]

    @get("/{webhook_id:uuid}", summary="Get a webhook (header values masked)")
    async def get_webhook(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        webhook_id: FromPath[uuid.UUID],
        use_case: FromDishka[GetWebhook],
    ) -> WebhookResponse:
        view = await use_case.execute(
            WebhookRef(actor=actor, tenant_id=TenantId(tenant_id), webhook_id=WebhookId(webhook_id))
        )
        return WebhookResponse.of(view)

    @put("/{webhook_id:uuid}", summary="Reconfigure a webhook (URL, event filter, headers, active)")
    async def replace(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        webhook_id: FromPath[uuid.UUID],
        data: JSONBody[ReplaceWebhookBody],
        use_case: FromDishka[UpdateWebhook],
    ) -> WebhookResponse:
        view = await use_case.execute(
            UpdateWebhookInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                webhook_id=WebhookId(webhook_id),
                url=data.url,
                event_types=tuple(data.event_types),
                headers=data.headers,
                active=data.active,
                description=data.description,
            )
        )
        return WebhookResponse.of(view)

    @delete("/{webhook_id:uuid}", summary="Delete a webhook and its delivery log", status_code=204)
    async def delete_webhook(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        webhook_id: FromPath[uuid.UUID],
        use_case: FromDishka[DeleteWebhook],
    ) -> None:
        await use_case.execute(WebhookRef(actor=actor, tenant_id=TenantId(tenant_id), webhook_id=WebhookId(webhook_id)))

    @post(
        "/{webhook_id:uuid}/rotate-secret",
        summary="Issue a new signing secret (returned once); the old one keeps signing for the overlap",
        status_code=200,
    )
    async def rotate_secret(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        webhook_id: FromPath[uuid.UUID],
        data: JSONBody[RotateWebhookSecretBody],
        use_case: FromDishka[RotateWebhookSecret],
    ) -> WebhookWithSecretResponse:
        rotated = await use_case.execute(
            RotateWebhookSecretInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                webhook_id=WebhookId(webhook_id),
                overlap_seconds=data.overlap_seconds,
            )
        )
        return WebhookWithSecretResponse.of(rotated)

    @get("/{webhook_id:uuid}/deliveries", summary="The webhook's deliveries, newest first, with every attempt")
    async def list_deliveries(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        webhook_id: FromPath[uuid.UUID],
        use_case: FromDishka[ListWebhookDeliveries],
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Parameter(max_length=200)] = None,
        status: FromQuery[Literal["pending", "delivering", "delivered", "dead"] | None] = None,
    ) -> DeliveryPage:
        page = await use_case.execute(
            ListWebhookDeliveriesInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                webhook_id=WebhookId(webhook_id),
                limit=limit,
                cursor=cursor,
                status=None if status is None else DeliveryStatus(status),
            )
        )
        return DeliveryPage(items=[DeliveryResponse.of(view) for view in page.items], next_cursor=page.next_cursor)

    @post(
        "/{webhook_id:uuid}/deliveries/{delivery_id:uuid}/replay",
        summary="Send a dead-lettered delivery again",
        status_code=202,
        opt=documented(409),
    )
    async def replay(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        webhook_id: FromPath[uuid.UUID],
        delivery_id: FromPath[uuid.UUID],
        use_case: FromDishka[ReplayWebhookDelivery],
    ) -> ReplayedDeliveryResponse:
        replayed = await use_case.execute(
            ReplayWebhookDeliveryInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                webhook_id=WebhookId(webhook_id),
                delivery_id=DeliveryId(delivery_id),
            )
        )
        return ReplayedDeliveryResponse.of(replayed)
