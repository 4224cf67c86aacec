"""The knowledge base as the assistant sees it: the `search_knowledge_base` tool (OpenAI tool schema), its
executor, and the KnowledgeSearch port the conversation engine calls.

Both run SearchKnowledge (hybrid, the tenant's settings) as the tenant itself, and label each passage with
its citation (document title, page, section), so an answer can name where it comes from.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from application.auth import Principal
from application.knowledge.search_knowledge import RetrievedPassage, SearchKnowledge, SearchKnowledgeInput
from application.ports.knowledge_search import KnowledgePassage
from domain.common.ids import TenantId
from domain.tenants.api_key import Scope

SEARCH_KNOWLEDGE_BASE = "search_knowledge_base"

SEARCH_KNOWLEDGE_BASE_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": SEARCH_KNOWLEDGE_BASE,
        "description": (
            "Search the business's knowledge base (documents it uploaded) and return the most relevant passages, "
            "numbered, each with its source. Cite the passages you use as [n]."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for, in a few words."},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
    },
}


def tenant_reader(tenant_id: TenantId) -> Principal:
    """The assistant searches as its tenant, with read access only."""
    return Principal(key_id=None, tenant_id=tenant_id, scopes=frozenset({Scope.READ}))


def format_citations(passages: list[RetrievedPassage]) -> str:
    """Tool output: numbered passages under their citation labels, or a plain statement that none matched."""
    if not passages:
        return "No passages in the knowledge base match this query."
    return "\n\n".join(
        f"[{number}] {passage.citation.label}\n{passage.text}" for number, passage in enumerate(passages, start=1)
    )


@attrs.frozen
class KnowledgeToolResult:
    content: str
    passages: list[RetrievedPassage]


class SearchKnowledgeBaseTool:
    """Executes a `search_knowledge_base` call: JSON arguments in, numbered cited passages out."""

    def __init__(self, search: SearchKnowledge) -> None:
        self._search = search

    async def execute(self, tenant_id: TenantId, arguments: str | dict[str, Any]) -> KnowledgeToolResult:
        try:
            parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
        except ValueError:
            return KnowledgeToolResult("error: the arguments are not valid JSON", [])
        query = str(parsed.get("query") or "").strip() if isinstance(parsed, dict) else ""
        if not query:
            return KnowledgeToolResult("error: 'query' is required", [])
        result = await self._search.execute(
            SearchKnowledgeInput(actor=tenant_reader(tenant_id), tenant_id=tenant_id, query=query)
        )
        return KnowledgeToolResult(format_citations(result.passages), result.passages)


class TenantKnowledgeSearch:
    """KnowledgeSearch for the conversation engine: hybrid search with the tenant's settings; the passage
    title carries the whole citation label (title, page, section)."""

    def __init__(self, search: SearchKnowledge) -> None:
        self._search = search

    async def search(self, tenant_id: TenantId, query: str, limit: int) -> list[KnowledgePassage]:
        result = await self._search.execute(
            SearchKnowledgeInput(actor=tenant_reader(tenant_id), tenant_id=tenant_id, query=query, top_k=limit)
        )
        return [
            KnowledgePassage(
                chunk_id=str(passage.chunk_id),
                document_id=str(passage.citation.document_id),
                title=passage.citation.label,
                text=passage.text,
                score=passage.score,
                url=passage.citation.source_url or None,
            )
            for passage in result.passages
        ]
