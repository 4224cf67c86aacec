from __future__ import annotations

import uuid

from dishka import FromDishka
from litestar import Controller, delete, get, post, put
from litestar.params import FromPath, JSONBody

from application.channels.manage_channels import (
    ChannelRef,
    DeleteChannel,
    GetChannel,
    ListChannels,
    ListChannelsInput,
    ReplaceChannel,
    ReplaceChannelInput,
)
from application.channels.register_channel import RegisterChannel, RegisterChannelInput
from domain.channels.channel import ChannelKind
from domain.common.ids import ChannelId, TenantId
from entrypoints.http.openapi import documented
from entrypoints.http.schemas.channels import CONFIG_MODELS, ChannelResponse, CreateChannelBody, ReplaceChannelBody
from entrypoints.http.security import Actor


class ChannelController(Controller):
    path = "/api/tenants/{tenant_id:uuid}/channels"
    tags = ["channels"]

    @post(
        "/",
        summary="Connect a channel (WhatsApp number, Facebook page or web chat widget)",
        opt=documented(409, models=CONFIG_MODELS),
    )
    async def create(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        data: JSONBody[CreateChannelBody],
        use_case: FromDishka[RegisterChannel],
    ) -> ChannelResponse:
        view = await use_case.execute(
            RegisterChannelInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                kind=ChannelKind(data.kind),
                name=data.name,
                config=data.config,
                secrets=data.secrets,
                active=data.active,
            )
        )
        return ChannelResponse.of(view)

    @get("/", summary="List a tenant's channels")
    async def list_channels(
        self, actor: Actor, tenant_id: FromPath[uuid.UUID], use_case: FromDishka[ListChannels]
    ) -> list[ChannelResponse]:
        views = await use_case.execute(ListChannelsInput(actor=actor, tenant_id=TenantId(tenant_id)))
        return [ChannelResponse.of(view) for view in views]

    @get("/{channel_id:uuid}", summary="Get a channel (secrets masked)")
    async def get_channel(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        channel_id: FromPath[uuid.UUID],
        use_case: FromDishka[GetChannel],
    ) -> ChannelResponse:
        view = await use_case.execute(
            ChannelRef(actor=actor, tenant_id=TenantId(tenant_id), channel_id=ChannelId(channel_id))
        )
        return ChannelResponse.of(view)

    @put("/{channel_id:uuid}", summary="Reconfigure a channel", opt=documented(409, models=CONFIG_MODELS))
    async def replace(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        channel_id: FromPath[uuid.UUID],
        data: JSONBody[ReplaceChannelBody],
        use_case: FromDishka[ReplaceChannel],
    ) -> ChannelResponse:
        view = await use_case.execute(
            ReplaceChannelInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                channel_id=ChannelId(channel_id),
                name=data.name,
                config=data.config,
                secrets=data.secrets,
                active=data.active,
            )
        )
        return ChannelResponse.of(view)

    @delete("/{channel_id:uuid}", summary="Disconnect a channel", status_code=204)
    async def delete_channel(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        channel_id: FromPath[uuid.UUID],
        use_case: FromDishka[DeleteChannel],
    ) -> None:
        await use_case.execute(ChannelRef(actor=actor, tenant_id=TenantId(tenant_id), channel_id=ChannelId(channel_id)))
