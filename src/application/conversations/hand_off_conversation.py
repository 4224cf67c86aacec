"""An agent tool takes a conversation over through the API: the bot stops answering it."""

from __future__ import annotations

import attrs

from application.auth import Principal
from application.conversations.state_changes import hand_off
from application.conversations.views import ConversationView
from application.errors import NotFound
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import ConversationId, TenantId
from domain.conversations.handoff import HandoffTrigger
from domain.tenants.api_key import Scope


@attrs.frozen
class HandOffConversationInput:
    actor: Principal
    tenant_id: TenantId
    conversation_id: ConversationId
    reason: str = "taken over by an agent"


class HandOffConversation:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: HandOffConversationInput) -> ConversationView:
        """Idempotent: a conversation already with a person stays as it is (and no event repeats)."""
        data.actor.require(Scope.SEND, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            conversation = await uow.turns.lock_conversation(data.tenant_id, data.conversation_id)
            if conversation is None:
                raise NotFound("conversation not found")
            await hand_off(
                uow, conversation, reason=data.reason.strip() or "taken over by an agent", trigger=HandoffTrigger.AGENT
            )
            await uow.commit()
        return ConversationView.of(conversation)
