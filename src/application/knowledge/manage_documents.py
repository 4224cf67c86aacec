"""Reading, removing and re-indexing a tenant's knowledge documents."""

from __future__ import annotations

import attrs

from application.auth import Principal
from application.errors import NotFound
from application.knowledge.index_document import index_task
from application.knowledge.views import DocumentView, document_event
from application.ports.blob_storage import BlobStorage
from application.ports.repositories import Page
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import DocumentId, TenantId
from domain.events import EventType
from domain.knowledge.document import DocumentStatus
from domain.tenants.api_key import Scope


@attrs.frozen
class DocumentRef:
    actor: Principal
    tenant_id: TenantId
    document_id: DocumentId


@attrs.frozen
class ListDocumentsInput:
    actor: Principal
    tenant_id: TenantId
    limit: int = 50
    cursor: str | None = None
    status: DocumentStatus | None = None


class ListDocuments:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: ListDocumentsInput) -> Page[DocumentView]:
        data.actor.require(Scope.READ, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            if await uow.tenants.get(data.tenant_id) is None:
                raise NotFound("tenant not found")
            page = await uow.documents.list(
                data.tenant_id, limit=max(1, min(data.limit, 200)), cursor=data.cursor, status=data.status
            )
        return Page(items=[DocumentView.of(document) for document in page.items], next_cursor=page.next_cursor)


class GetDocument:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: DocumentRef) -> DocumentView:
        data.actor.require(Scope.READ, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            document = await uow.documents.get(data.tenant_id, data.document_id)
        if document is None:
            raise NotFound("document not found")
        return DocumentView.of(document)


class DeleteDocument:
    """Removes the document, its chunks (and their share of the term statistics), then its file."""

    def __init__(self, uow_factory: UnitOfWorkFactory, storage: BlobStorage) -> None:
        self._uow_factory = uow_factory
        self._storage = storage

    async def execute(self, data: DocumentRef) -> None:
        data.actor.require(Scope.WRITE, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            # Locked first, like the indexer does, so the two never interleave on one document.
            document = await uow.documents.get(data.tenant_id, data.document_id, lock=True)
            if document is None:
                raise NotFound("document not found")
            await uow.knowledge.delete_chunks(data.tenant_id, data.document_id)
            await uow.documents.delete(data.tenant_id, data.document_id)
            await uow.outbox.add([document_event(EventType.DOCUMENT_DELETED, document)])
            await uow.commit()
        # After the commit: a failed delete leaves an orphan file, never a document without its file.
        await self._storage.delete(document.storage_key)


class ReindexDocument:
    """Parse, chunk and embed again (after a settings or model change, or to retry a failure)."""

    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: DocumentRef) -> DocumentView:
        data.actor.require(Scope.WRITE, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            document = await uow.documents.get(data.tenant_id, data.document_id, lock=True)
            if document is None:
                raise NotFound("document not found")
            document.request_reindex()
            await uow.documents.update(document)
            await uow.outbox.add_tasks([index_task(document)])
            await uow.commit()
        return DocumentView.of(document)
