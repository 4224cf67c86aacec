"""The worker's inbox task: store the provider event, then answer a message in the same task."""

from __future__ import annotations

from application.conversations.handle_conversation_turn import (
    ConversationTurnInput,
    HandleConversationTurn,
    HeldRows,
    LoadedTurn,
)
from application.inbox.process_inbox_entry import ProcessInboxEntry, ProcessInboxEntryInput, ProcessInboxEntryResult
from application.ports.unit_of_work import UnitOfWork


class AnswerInboxEntry:
    """One task, one broker hop per message: the turn runs right after the message is committed, instead of
    travelling through the outbox and RabbitMQ as a task of its own; its inputs are read in the transaction
    that stored the message.

    Crash safety is the task's: it is acknowledged only once both steps are done, so a worker stopped
    mid-turn leaves it to be delivered again; the entry is then already processed, and its message's turn
    runs again (the turn's reply claim keeps the answer single)."""

    def __init__(self, process: ProcessInboxEntry, turn: HandleConversationTurn) -> None:
        self._process = process
        self._turn = turn

    async def execute(self, data: ProcessInboxEntryInput) -> ProcessInboxEntryResult:
        read: list[LoadedTurn] = []

        async def read_turn(uow: UnitOfWork, turn: ConversationTurnInput, held: HeldRows | None) -> None:
            read.append(await self._turn.load(uow, turn, held))

        result = await self._process.execute(data, read_turn)
        if result.answer_now is not None:
            [loaded] = read
            await self._turn.answer(loaded)
        return result
