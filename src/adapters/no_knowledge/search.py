"""A knowledge base with nothing in it. It stands in for the KnowledgeSearch port until the knowledge
module (document storage and hybrid search) is wired in its place; with it every search finds nothing,
so the assistant says it has no information and offers a person instead of guessing."""

from __future__ import annotations

from application.ports.knowledge_search import KnowledgePassage
from domain.common.ids import TenantId


class EmptyKnowledgeBase:
    async def search(self, tenant_id: TenantId, query: str, limit: int) -> list[KnowledgePassage]:
        return []
