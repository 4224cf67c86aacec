"""Providers of the conversation engine: the language model (OpenAI protocol when OPENAI_API_KEY is set, the
extractive answerer otherwise), tenants' HTTP tools, and the conversation and tool use cases."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dishka import Provider, Scope, provide, provide_all

from adapters.http_tools.invoker import HttpxToolInvoker
from adapters.httpx.address_policy import WebhookAddressPolicy
from application.conversations.answer_inbox_entry import AnswerInboxEntry
from application.conversations.get_conversation import GetConversation
from application.conversations.hand_off_conversation import HandOffConversation
from application.conversations.handle_conversation_turn import HandleConversationTurn, TurnEngineSettings
from application.conversations.list_conversations import ListConversations
from application.conversations.release_conversation import ReleaseConversation
from application.conversations.release_idle_handoffs import ReleaseIdleHandoffs
from application.conversations.send_agent_message import SendAgentMessage
from application.ports.channel_gateway import ChannelGateway
from application.ports.clock import Clock
from application.ports.delivery_outcomes import DeliveryOutcomes
from application.ports.knowledge_search import KnowledgeSearch
from application.ports.llm import ChatModel
from application.ports.reply_claims import ReplyClaims
from application.ports.reply_stream import ReplyStream
from application.ports.security import SecretCipher
from application.ports.tool_invoker import ToolInvoker
from application.ports.unit_of_work import UnitOfWorkFactory
from application.tools.manage_tools import (
    DeleteTenantTool,
    GetTenantTool,
    ListTenantTools,
    RegisterTenantTool,
    ReplaceTenantTool,
)
from entrypoints.settings import Settings


class ConversationsProvider(Provider):
    scope = Scope.APP

    @provide
    async def tool_invoker(self, policy: WebhookAddressPolicy) -> AsyncIterator[ToolInvoker]:
        invoker = HttpxToolInvoker(policy)
        yield invoker
        await invoker.aclose()

    @provide(scope=Scope.REQUEST)
    def handle_turn(
        self,
        uow_factory: UnitOfWorkFactory,
        gateway: ChannelGateway,
        outcomes: DeliveryOutcomes,
        claims: ReplyClaims,
        chat_model: ChatModel,
        knowledge: KnowledgeSearch,
        invoker: ToolInvoker,
        cipher: SecretCipher,
        reply_stream: ReplyStream,
        clock: Clock,
        settings: Settings,
    ) -> HandleConversationTurn:
        engine = settings.conversations
        return HandleConversationTurn(
            uow_factory,
            gateway,
            outcomes,
            claims,
            chat_model,
            knowledge,
            invoker,
            cipher,
            reply_stream,
            clock,
            TurnEngineSettings(
                max_tool_iterations=engine.max_tool_iterations, max_output_tokens=engine.max_output_tokens
            ),
        )

    use_cases = provide_all(
        AnswerInboxEntry,
        HandOffConversation,
        ReleaseConversation,
        SendAgentMessage,
        ReleaseIdleHandoffs,
        ListConversations,
        GetConversation,
        RegisterTenantTool,
        ListTenantTools,
        GetTenantTool,
        ReplaceTenantTool,
        DeleteTenantTool,
        scope=Scope.REQUEST,
    )
