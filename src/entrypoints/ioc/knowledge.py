"""Providers of the knowledge base: the embedding model (OpenAI protocol when OPENAI_API_KEY is set, the local
MiniLM model otherwise: one instance per process), document parsing, web page import, and its use cases."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dishka import Provider, Scope, provide, provide_all

from adapters.documents.parser import ContentSniffingDocumentParser
from adapters.httpx.address_policy import WebhookAddressPolicy
from adapters.httpx.web_page_fetcher import HttpxWebPageFetcher
from application.knowledge.import_web_page import ImportWebPage
from application.knowledge.index_document import IndexDocument
from application.knowledge.manage_documents import DeleteDocument, GetDocument, ListDocuments, ReindexDocument
from application.knowledge.requeue_documents import RequeueKnowledgeDocuments
from application.knowledge.search_knowledge import SearchKnowledge
from application.knowledge.tools import SearchKnowledgeBaseTool, TenantKnowledgeSearch
from application.knowledge.upload_documents import UploadDocuments, UploadLimits
from application.ports.clock import Clock
from application.ports.documents import DocumentParser
from application.ports.embeddings import Embedder
from application.ports.knowledge_search import KnowledgeSearch
from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.web_pages import WebPageFetcher
from entrypoints.settings import Settings


class KnowledgeProvider(Provider):
    scope = Scope.APP

    @provide
    def parser(self) -> DocumentParser:
        return ContentSniffingDocumentParser()

    @provide
    def upload_limits(self, settings: Settings) -> UploadLimits:
        return UploadLimits(max_file_bytes=settings.http.max_upload_bytes)

    @provide
    async def web_page_fetcher(self, policy: WebhookAddressPolicy) -> AsyncIterator[WebPageFetcher]:
        fetcher = HttpxWebPageFetcher(policy)
        yield fetcher
        await fetcher.aclose()

    # Search only needs process-wide services: one instance serves the API and the conversation engine.
    search = provide(SearchKnowledge)
    search_tool = provide(SearchKnowledgeBaseTool)
    knowledge_search = provide(TenantKnowledgeSearch, provides=KnowledgeSearch)

    @provide(scope=Scope.REQUEST)
    def requeue(self, uow_factory: UnitOfWorkFactory, embedder: Embedder, clock: Clock) -> RequeueKnowledgeDocuments:
        return RequeueKnowledgeDocuments(uow_factory, embedder, clock)

    use_cases = provide_all(
        UploadDocuments,
        ImportWebPage,
        ListDocuments,
        GetDocument,
        DeleteDocument,
        ReindexDocument,
        IndexDocument,
        scope=Scope.REQUEST,
    )
