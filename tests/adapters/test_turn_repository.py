"""PostgresTurnRepository.tenant: the tenant's row and whether it has knowledge to search (an indexed chunk),
read in one statement, never counting another tenant's chunks."""

from __future__ import annotations

from adapters.postgres.unit_of_work import PostgresUnitOfWorkFactory
from application.ports.conversation_store import TurnTenant
from domain.common.ids import DocumentId, TenantId, new_id
from domain.knowledge.document import KnowledgeDocument
from domain.tenants.tenant import Tenant
from tests.fakes.knowledge import HashingEmbedder
from tests.support.knowledge import store_indexed_document


async def add_tenant(uow_factory: PostgresUnitOfWorkFactory, name: str) -> TenantId:
    tenant = Tenant(id=TenantId(new_id()), name=name)
    async with uow_factory(None) as uow:
        await uow.tenants.add(tenant)
        await uow.commit()
    return tenant.id


async def read(
    uow_factory: PostgresUnitOfWorkFactory, scope: TenantId | None, tenant_id: TenantId
) -> TurnTenant | None:
    async with uow_factory(scope) as uow:
        return await uow.turns.tenant(tenant_id)


async def test_a_tenant_has_knowledge_from_its_first_indexed_chunk_until_its_last_is_gone(
    uow_factory: PostgresUnitOfWorkFactory,
) -> None:
    tenant_id = await add_tenant(uow_factory, "Acme")
    fresh = await read(uow_factory, tenant_id, tenant_id)
    assert fresh is not None
    assert (fresh.tenant.id, fresh.tenant.name, fresh.has_knowledge) == (tenant_id, "Acme", False)

    # Uploaded but not indexed yet: a document without chunks has nothing to search.
    async with uow_factory(tenant_id) as uow:
        await uow.documents.add(
            KnowledgeDocument(
                id=DocumentId(new_id()),
                tenant_id=tenant_id,
                title="Pending",
                filename="pending.md",
                format="md",
                content_hash=new_id().hex,
                size_bytes=1,
                storage_key="unused",
            )
        )
        await uow.commit()
    assert (await read(uow_factory, tenant_id, tenant_id)) == TurnTenant(fresh.tenant, has_knowledge=False)

    document_id, _ = await store_indexed_document(
        uow_factory, tenant_id, "Refund policy", ["Refunds are paid within 30 days."], HashingEmbedder()
    )
    assert (await read(uow_factory, tenant_id, tenant_id)) == TurnTenant(fresh.tenant, has_knowledge=True)

    async with uow_factory(tenant_id) as uow:
        await uow.knowledge.delete_chunks(tenant_id, document_id)
        await uow.commit()
    assert (await read(uow_factory, tenant_id, tenant_id)) == TurnTenant(fresh.tenant, has_knowledge=False)


async def test_another_tenants_chunks_never_count(uow_factory: PostgresUnitOfWorkFactory) -> None:
    empty = await add_tenant(uow_factory, "Empty")
    stocked = await add_tenant(uow_factory, "Stocked")
    await store_indexed_document(uow_factory, stocked, "Shipping", ["Parcels ship within 2 days."], HashingEmbedder())

    # Platform scope has row-level security off: the statement's own tenant filter is all that holds there.
    answers = [
        await read(uow_factory, scope, tenant) for scope, tenant in [(empty, empty), (None, empty), (None, stocked)]
    ]

    assert [None if answer is None else answer.has_knowledge for answer in answers] == [False, False, True]
    # A tenant's transaction does not see another tenant at all.
    assert await read(uow_factory, empty, stocked) is None
    assert await read(uow_factory, None, TenantId(new_id())) is None
