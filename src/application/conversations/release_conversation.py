"""An agent tool hands a conversation back to the bot, which answers the user's next message knowing
what was said while a person had it."""

from __future__ import annotations

import attrs

from application.auth import Principal
from application.conversations.state_changes import release
from application.conversations.views import ConversationView
from application.errors import NotFound
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import ConversationId, TenantId
from domain.tenants.api_key import Scope


@attrs.frozen
class ReleaseConversationInput:
    actor: Principal
    tenant_id: TenantId
    conversation_id: ConversationId
    reason: str = "released by an agent"


class ReleaseConversation:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: ReleaseConversationInput) -> ConversationView:
        """Idempotent: a conversation the bot has already stays as it is."""
        data.actor.require(Scope.SEND, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            conversation = await uow.turns.lock_conversation(data.tenant_id, data.conversation_id)
            if conversation is None:
                raise NotFound("conversation not found")
            await release(uow, conversation, reason=data.reason.strip() or "released by an agent")
            await uow.commit()
        return ConversationView.of(conversation)
