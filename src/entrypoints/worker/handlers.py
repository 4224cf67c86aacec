"""The worker's handlers, one line each. Add yours here:

    handlers.tasks.register("document.index", use_case(IndexDocument, index_document_input))
    handlers.events.subscribe("crm-sync", ["*.conversation.*"], use_case(SyncConversation))

Task names are the `Task.name` a use case stages with `uow.outbox.add_tasks([...])`. A task name with
no handler here is dead-lettered, never silently dropped."""

from __future__ import annotations

import uuid

from dishka import AsyncContainer

from application.conversations.answer_inbox_entry import AnswerInboxEntry
from application.conversations.handle_conversation_turn import ConversationTurnInput, HandleConversationTurn
from application.conversations.release_idle_handoffs import ReleaseIdleHandoffs
from application.inbox.inbox_writer import PROCESS_TASK
from application.inbox.process_inbox_entry import TURN_TASK, ProcessInboxEntryInput
from application.knowledge.index_document import INDEX_DOCUMENT_TASK, IndexDocument, IndexDocumentInput
from application.knowledge.requeue_documents import RequeueKnowledgeDocuments
from application.ports.tasks import Task
from application.webchat.show_handoff_in_widget import ShowHandoffInWidget
from domain.common.ids import ConversationId, MessageId
from entrypoints.worker.registry import WorkerHandlers, use_case

IDLE_RELEASE_EVERY_SECONDS = 60.0
KNOWLEDGE_REQUEUE_EVERY_SECONDS = 300.0


def register_handlers(handlers: WorkerHandlers) -> WorkerHandlers:
    handlers.tasks.register(PROCESS_TASK, use_case(AnswerInboxEntry, _inbox_input))
    handlers.tasks.register(TURN_TASK, use_case(HandleConversationTurn, _turn_input))
    handlers.tasks.register(INDEX_DOCUMENT_TASK, use_case(IndexDocument, IndexDocumentInput.from_task))
    handlers.periodic.every(IDLE_RELEASE_EVERY_SECONDS, "idle handoff release", _release_idle_handoffs)
    handlers.periodic.every(KNOWLEDGE_REQUEUE_EVERY_SECONDS, "knowledge requeue", _requeue_knowledge)
    handlers.events.subscribe(
        "webchat-handoff", ["*.conversation.handoff", "*.conversation.released"], use_case(ShowHandoffInWidget)
    )
    return handlers


def _turn_input(task: Task) -> ConversationTurnInput:
    return ConversationTurnInput(
        tenant_id=task.tenant_id,
        conversation_id=ConversationId(uuid.UUID(task.payload["conversation_id"])),
        message_id=MessageId(uuid.UUID(task.payload["message_id"])),
    )


def _inbox_input(task: Task) -> ProcessInboxEntryInput:
    return ProcessInboxEntryInput(tenant_id=task.tenant_id, inbox_id=uuid.UUID(task.payload["inbox_id"]))


async def _release_idle_handoffs(request: AsyncContainer) -> None:
    await (await request.get(ReleaseIdleHandoffs)).execute()


async def _requeue_knowledge(request: AsyncContainer) -> None:
    await (await request.get(RequeueKnowledgeDocuments)).execute()
