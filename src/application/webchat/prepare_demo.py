"""`metachat run` on a fresh machine: a demo tenant with a web chat widget (allowed on the server's own
origin) and a small knowledge document, so a newcomer opens /demo and chats with the assistant at once.
Runs at every start and changes nothing once the demo exists, except following the server's origin
(the document is uploaded with the tenant only: a tenant may have deleted or replaced it since)."""

from __future__ import annotations

import attrs

from application.auth import Principal
from application.channels.manage_channels import ReplaceChannel, ReplaceChannelInput
from application.channels.register_channel import RegisterChannel, RegisterChannelInput
from application.knowledge.upload_documents import UploadDocuments, UploadDocumentsInput, UploadedFile
from application.ports.unit_of_work import UnitOfWorkFactory
from application.tenants.create_tenant import CreateTenant, CreateTenantInput
from domain.channels.channel import ChannelKind, WebChatConfig
from domain.common.ids import TenantId
from domain.tenants.api_key import ALL_SCOPES
from domain.tenants.tenant import TenantSettings

DEMO_WIDGET_ID = "wgt_demo"
DEMO_TENANT_NAME = "Northwind Outdoor (demo)"
DEMO_LOOK = {
    "title": "Northwind Outdoor",
    "brand_color": "#0f766e",
    "position": "right",
    "greeting": "Hi! I'm the Northwind assistant. Ask me about shipping, returns or your order.",
}
PLATFORM_OPERATOR = Principal(key_id=None, tenant_id=None, scopes=ALL_SCOPES)
DEMO_DOCUMENT_NAME = "northwind-customer-service.md"
DEMO_DOCUMENT = """# Northwind Outdoor customer service

## Shipping
Orders over $50 ship free within the United States. Standard shipping takes 3 to 5 business days;
express shipping arrives the next business day and costs $15. We ship to Canada in 5 to 8 business days
for a flat $20.

## Returns
You can return any unused item within 30 days of delivery for a full refund. Start a return at
northwind.example/returns and we email you a prepaid label. The refund reaches your card within 5
business days after the item arrives at our warehouse.

## Warranty
Tents and backpacks have a 5-year warranty against defects in materials and workmanship. Boots and
clothing have a 1-year warranty. Send a photo of the defect to warranty@northwind.example.

## Contact
Our team answers at help@northwind.example, Monday to Friday, 9:00 to 17:00 Eastern time.
"""


@attrs.frozen
class PrepareWebChatDemoInput:
    # Where the server is reached (http://127.0.0.1:8000 …): the demo page's origin.
    origins: tuple[str, ...]


@attrs.frozen
class WebChatDemo:
    tenant_id: TenantId
    widget_id: str
    # True on the first start: the tenant, the widget (and its document) were made now.
    created: bool


class PrepareWebChatDemo:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        create_tenant: CreateTenant,
        register_channel: RegisterChannel,
        replace_channel: ReplaceChannel,
        upload_documents: UploadDocuments,
    ) -> None:
        self._uow_factory = uow_factory
        self._create_tenant = create_tenant
        self._register_channel = register_channel
        self._replace_channel = replace_channel
        self._upload_documents = upload_documents

    async def execute(self, data: PrepareWebChatDemoInput) -> WebChatDemo:
        config = {"widget_id": DEMO_WIDGET_ID, "allowed_origins": list(data.origins), **DEMO_LOOK}
        async with self._uow_factory(None) as uow:
            route = await uow.channels.route(ChannelKind.WEBCHAT, DEMO_WIDGET_ID)
            channel = None if route is None else await uow.channels.locate(route.channel_id)
        if channel is not None:
            current = channel.config
            if isinstance(current, WebChatConfig) and set(current.allowed_origins) != set(data.origins):
                # Started on another host or port: the demo page moved with the server.
                await self._replace_channel.execute(
                    ReplaceChannelInput(
                        actor=PLATFORM_OPERATOR,
                        tenant_id=channel.tenant_id,
                        channel_id=channel.id,
                        name=channel.name,
                        config={**attrs.asdict(current), "allowed_origins": list(data.origins)},
                        secrets=None,
                        active=True,
                    )
                )
            return WebChatDemo(tenant_id=channel.tenant_id, widget_id=DEMO_WIDGET_ID, created=False)
        tenant = await self._create_tenant.execute(
            CreateTenantInput(
                actor=PLATFORM_OPERATOR,
                name=DEMO_TENANT_NAME,
                settings=TenantSettings(brand_name="Northwind Outdoor"),
            )
        )
        await self._register_channel.execute(
            RegisterChannelInput(
                actor=PLATFORM_OPERATOR,
                tenant_id=tenant.id,
                kind=ChannelKind.WEBCHAT,
                name="Demo website",
                config=config,
                secrets={},
            )
        )
        # Indexed by the worker in the background: the assistant knows it a few seconds after start.
        await self._upload_documents.execute(
            UploadDocumentsInput(
                actor=PLATFORM_OPERATOR,
                tenant_id=tenant.id,
                files=[UploadedFile(DEMO_DOCUMENT_NAME, "text/markdown", DEMO_DOCUMENT.encode())],
            )
        )
        return WebChatDemo(tenant_id=tenant.id, widget_id=DEMO_WIDGET_ID, created=True)
