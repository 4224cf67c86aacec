"""A bot reply claimed in one statement on a tenant-scoped session (see tenant_sessions).

The gate is the conversation's message counter (conversation_sequences, which every stored message bumps
under its row lock): the reply goes in only while the counter still stands at the last input's number, with
the conversation locked and with the bot. Both conditions are written as ones PostgreSQL re-checks on the
newest row version after waiting for a lock (READ COMMITTED's EvalPlanQual), so a message committed by
a transaction this statement waited for fails the gate, although the statement's snapshot predates it.
Reading the messages after the last input instead, as the transactional claim does, would miss it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.postgres.driver_statement import DriverStatement
from adapters.postgres.repositories.messages import MESSAGE_VALUES, message_values
from adapters.postgres.tables import conversation_sequences, conversations, messages, outbound_sends
from adapters.postgres.tenant_sessions import TenantSessions
from domain.conversations.conversation import ConversationState
from domain.conversations.message import Message

_TENANT = MESSAGE_VALUES["tenant_id"]
_CONVERSATION = MESSAGE_VALUES["conversation_id"]
_WITH_THE_BOT = (
    sa.select(conversations.c.id)
    .where(
        conversations.c.tenant_id == _TENANT,
        conversations.c.id == _CONVERSATION,
        conversations.c.state == str(ConversationState.BOT),
    )
    .with_for_update()
    .cte("with_the_bot")
)
_LAST_INPUT_SEQ = (
    sa.select(messages.c.seq)
    .where(
        messages.c.tenant_id == _TENANT,
        # Redundant with the id, and there so that either index bounds the lookup to the conversation.
        messages.c.conversation_id == _CONVERSATION,
        messages.c.id == sa.bindparam("b_last_input_id"),
        messages.c.created_at == sa.bindparam("b_last_input_created_at"),
    )
    .scalar_subquery()
)
# The counter moves on to the reply's own number, which the insert below sets (the sequence trigger then
# leaves it). A key taken already fails the gate; one taken by a claim that committed after this statement's
# snapshot (it stored its message, so it failed the gate too, short of a tie on the key alone) is skipped by
# the ledger's ON CONFLICT, which would leave a number unused rather than raise.
_GATE = (
    conversation_sequences.update()
    .where(
        conversation_sequences.c.tenant_id == _TENANT,
        conversation_sequences.c.conversation_id == _CONVERSATION,
        conversation_sequences.c.last_seq == _LAST_INPUT_SEQ,
        sa.exists(sa.select(_WITH_THE_BOT.c.id)),
        ~sa.exists().where(
            outbound_sends.c.tenant_id == _TENANT,
            outbound_sends.c.idempotency_key == MESSAGE_VALUES["idempotency_key"],
        ),
    )
    .values(last_seq=conversation_sequences.c.last_seq + 1)
    .returning(conversation_sequences.c.last_seq)
    .cte("gate")
)
_LEDGER = (
    insert(outbound_sends)
    .from_select(
        ["tenant_id", "idempotency_key", "message_id", "message_created_at"],
        sa.select(
            _TENANT, MESSAGE_VALUES["idempotency_key"], MESSAGE_VALUES["id"], MESSAGE_VALUES["created_at"]
        ).select_from(_GATE),
    )
    .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
    .returning(outbound_sends.c.message_id)
    .cte("ledger")
)
_CLAIM = DriverStatement(
    messages.insert()
    .from_select(
        [*MESSAGE_VALUES, "seq"],
        sa.select(*MESSAGE_VALUES.values(), _GATE.c.last_seq).select_from(_LEDGER).join(_GATE, sa.true()),
    )
    .returning(messages.c.id)
)


class PostgresReplyClaims:
    def __init__(self, sessions: TenantSessions) -> None:
        self._sessions = sessions

    async def claim_unanswered(self, reply: Message, last_input: Message) -> bool:
        if reply.idempotency_key is None:
            raise ValueError("a claimed reply needs an idempotency key")
        values = {
            **message_values(reply),
            "b_last_input_id": last_input.id,
            "b_last_input_created_at": last_input.created_at,
        }
        async with self._sessions.scoped_to(reply.tenant_id) as connection:
            return await _CLAIM.fetchrow(connection, values) is not None
