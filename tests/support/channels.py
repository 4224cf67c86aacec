"""Tenants and their channels, stored straight through the unit of work (no API)."""

from __future__ import annotations

from application.ports.unit_of_work import UnitOfWorkFactory
from domain.channels.channel import Channel, ChannelKind, WhatsAppConfig
from domain.channels.inbox import InboxEntry
from domain.common.ids import ChannelId, TenantId, new_id
from domain.tenants.tenant import Tenant


async def store_tenant(uow_factory: UnitOfWorkFactory, name: str) -> TenantId:
    tenant = Tenant(id=TenantId(new_id()), name=name)
    async with uow_factory(None) as uow:
        await uow.tenants.add(tenant)
        await uow.commit()
    return tenant.id


async def store_whatsapp_channel(uow_factory: UnitOfWorkFactory, phone_number_id: str) -> Channel:
    """A new tenant with one WhatsApp channel."""
    channel = Channel(
        id=ChannelId(new_id()),
        tenant_id=await store_tenant(uow_factory, f"Tenant {phone_number_id}"),
        kind=ChannelKind.WHATSAPP,
        name="Support",
        config=WhatsAppConfig(phone_number_id=phone_number_id),
        secrets={"access_token": "token"},
    )
    async with uow_factory(None) as uow:
        await uow.channels.add(channel)
        await uow.commit()
    return channel


def inbox_entry(channel: Channel, contact_id: str) -> InboxEntry:
    """A pending inbox entry of the channel's, from the contact."""
    return InboxEntry(
        id=new_id(),
        tenant_id=channel.tenant_id,
        channel_id=channel.id,
        kind=channel.kind,
        provider_event_key=f"wamid.{new_id().hex}",
        payload={},
        contact_id=contact_id,
    )
