"""The worker's handlers, one line each. Add yours here:

    handlers.tasks.register("document.index", use_case(IndexDocument, index_document_input))
    handlers.events.subscribe("crm-sync", ["*.conversation.*"], use_case(SyncConversation))

Task names are the `Task.name` a use case stages with `uow.outbox.add_tasks([...])`. A task name with
no handler here is dead-lettered, never silently dropped."""

from __future__ import annotations

from entrypoints.worker.registry import WorkerHandlers


def register_handlers(handlers: WorkerHandlers) -> WorkerHandlers:
    return handlers
