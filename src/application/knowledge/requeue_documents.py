"""Periodic sweep keeping every knowledge base indexed with the current embedding model.

- A model switch (OPENAI_API_KEY set or removed, another OPENAI_EMBEDDING_MODEL) leaves ready documents
  with vectors of the old model. Searches only compare vectors of the current model, so those documents
  drop out of the vector leg until this sweep has them re-embedded.
- A document pending or processing with no progress for `stalled_after` lost its worker for good (the
  task's retries ran out); it gets a fresh request.
A reindex request bumps the document's version, so an old task that is still running, should it wake up,
discards its result.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from application.knowledge.index_document import index_task
from application.ports.clock import Clock
from application.ports.embeddings import Embedder
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.knowledge.document import DocumentStatus

logger = logging.getLogger(__name__)


class RequeueKnowledgeDocuments:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        embedder: Embedder,
        clock: Clock,
        *,
        stalled_after: timedelta = timedelta(minutes=15),
        batch: int = 100,
    ) -> None:
        self._uow_factory = uow_factory
        self._embedder = embedder
        self._clock = clock
        self._stalled_after = stalled_after
        self._batch = batch

    async def execute(self) -> int:
        """How many documents were queued again."""
        model = self._embedder.model_name
        stalled_before = self._clock.now() - self._stalled_after
        async with self._uow_factory(None) as uow:
            candidates = await uow.documents.needing_index(
                embedding_model=model, stalled_before=stalled_before, limit=self._batch
            )
        queued = 0
        for candidate in candidates:
            async with self._uow_factory(candidate.tenant_id) as uow:
                document = await uow.documents.get(candidate.tenant_id, candidate.id, lock=True)
                if document is None:
                    continue
                stale_model = document.status is DocumentStatus.READY and document.embedding_model != model
                stalled = (
                    document.status in (DocumentStatus.PENDING, DocumentStatus.PROCESSING)
                    and document.updated_at < stalled_before
                )
                if not (stale_model or stalled):
                    continue
                document.request_reindex()
                await uow.documents.update(document)
                await uow.outbox.add_tasks([index_task(document)])
                await uow.commit()
                queued += 1
        if queued:
            logger.info("knowledge documents queued for indexing", extra={"count": queued, "model": model})
        return queued
