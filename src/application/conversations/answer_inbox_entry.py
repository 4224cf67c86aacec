"""The worker's inbox task: store the provider event, then answer a message in the same task."""

from __future__ import annotations

from application.conversations.handle_conversation_turn import HandleConversationTurn
from application.inbox.process_inbox_entry import ProcessInboxEntry, ProcessInboxEntryInput, ProcessInboxEntryResult


class AnswerInboxEntry:
    """One task, one broker hop per message: the turn runs right after the message is committed, instead of
    travelling through the outbox and RabbitMQ as a task of its own.

    Crash safety is the task's: it is acknowledged only once both steps are done, so a worker stopped
    mid-turn leaves it to be delivered again; the entry is then already processed, and its message's turn
    runs again (the turn's reply claim keeps the answer single)."""

    def __init__(self, process: ProcessInboxEntry, turn: HandleConversationTurn) -> None:
        self._process = process
        self._turn = turn

    async def execute(self, data: ProcessInboxEntryInput) -> ProcessInboxEntryResult:
        result = await self._process.execute(data)
        if result.answer_now is not None:
            await self._turn.execute(result.answer_now)
        return result
