"""What the conversation engine needs from the knowledge base: the passages that best answer a query."""

from __future__ import annotations

from typing import Protocol

import attrs

from domain.common.ids import TenantId


@attrs.frozen
class KnowledgePassage:
    chunk_id: str
    document_id: str
    title: str
    text: str
    score: float
    url: str | None = None


class KnowledgeSearch(Protocol):
    async def search(self, tenant_id: TenantId, query: str, limit: int) -> list[KnowledgePassage]:
        """Best first, only passages the tenant's retrieval settings count as relevant (may be none)."""
        ...
