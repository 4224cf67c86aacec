"""HandleConversationTurn on real Postgres, with fakes for the channel, the model, the knowledge base and
tenant tools: what gets sent, stored and announced for each kind of turn. A world's tenant has an indexed
document (the fake knowledge search answers for it), unless a test asks for a tenant without knowledge."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import attrs
import pytest
from dishka import AsyncContainer
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.httpx.address_policy import WebhookAddressPolicy
from adapters.system.clock import SystemClock
from application.auth import Principal
from application.conversations.handle_conversation_turn import (
    ConversationTurnInput,
    ConversationTurnResult,
    HandleConversationTurn,
    TurnEngineSettings,
    TurnOutcome,
)
from application.conversations.send_agent_message import SendAgentMessage, SendAgentMessageInput
from application.knowledge.search_knowledge import SearchKnowledge
from application.knowledge.tools import TenantKnowledgeSearch
from application.ports.delivery_outcomes import DeliveryOutcomes
from application.ports.knowledge_search import KnowledgePassage
from application.ports.llm import ChatCompletion, ChatRole
from application.ports.reply_claims import ReplyClaims
from application.ports.security import SecretCipher
from application.ports.tool_invoker import ToolResponse
from application.ports.unit_of_work import UnitOfWorkFactory
from application.tools.manage_tools import RegisterTenantTool, RegisterTenantToolInput
from domain.common.ids import ChannelId, ConversationId, MessageId, TenantId, new_id
from domain.conversations.conversation import Conversation, ConversationState
from domain.conversations.message import DeliveryStatus, Direction, Message, MessageType, SenderRole
from domain.tenants.api_key import ALL_SCOPES
from tests.fakes.conversation_engine import (
    FakeGateway,
    FakeInvoker,
    FakeKnowledge,
    RecordingReplyStream,
    ScriptedChatModel,
    calls,
    unavailable,
)
from tests.fakes.knowledge import HashingEmbedder
from tests.support.api import Client, create_channel, create_tenant
from tests.support.knowledge import store_indexed_document
from tests.support.plans import recorded_statements

ADMIN = Principal(key_id=None, tenant_id=None, scopes=ALL_SCOPES)
REFUNDS = KnowledgePassage(
    chunk_id="c1", document_id="d-refunds", title="Refund policy", text="Refunds are paid within 30 days.", score=0.9
)
SHIPPING = KnowledgePassage(
    chunk_id="c2", document_id="d-shipping", title="Shipping", text="Parcels ship within 2 days.", score=0.8
)


@attrs.define
class World:
    container: AsyncContainer
    db: asyncpg.Connection
    tenant_id: TenantId
    channel_id: ChannelId
    gateway: FakeGateway = attrs.field(factory=FakeGateway)
    model: ScriptedChatModel = attrs.field(factory=ScriptedChatModel)
    knowledge: FakeKnowledge = attrs.field(factory=lambda: FakeKnowledge(REFUNDS, SHIPPING))
    invoker: FakeInvoker = attrs.field(factory=FakeInvoker)
    stream: RecordingReplyStream = attrs.field(factory=RecordingReplyStream)
    contact: str = "16505551234"
    conversation_id: ConversationId | None = None

    async def engine(self, **settings: Any) -> HandleConversationTurn:
        return HandleConversationTurn(
            await self.container.get(UnitOfWorkFactory),
            self.gateway,
            await self.container.get(DeliveryOutcomes),
            await self.container.get(ReplyClaims),
            self.model,
            self.knowledge,
            self.invoker,
            await self.container.get(SecretCipher),
            self.stream,
            SystemClock(),
            TurnEngineSettings(**settings),
        )

    async def say(
        self, text: str, *, kind: MessageType = MessageType.TEXT, last_inbound: datetime | None = None
    ) -> MessageId:
        """What inbound processing does: the contact's conversation, its message, the inbound time."""
        uow_factory = await self.container.get(UnitOfWorkFactory)
        async with uow_factory(self.tenant_id) as uow:
            conversation, _ = await uow.conversations.get_or_add(
                Conversation(
                    id=ConversationId(new_id()),
                    tenant_id=self.tenant_id,
                    channel_id=self.channel_id,
                    contact_id=self.contact,
                )
            )
            conversation.record_inbound(last_inbound or datetime.now(UTC))
            await uow.conversations.update(conversation)
            message = Message(
                id=MessageId(new_id()),
                tenant_id=self.tenant_id,
                conversation_id=conversation.id,
                channel_id=self.channel_id,
                direction=Direction.INBOUND,
                sender=SenderRole.CONTACT,
                type=kind,
                text=text,
                provider_message_id=f"wamid.in{uuid.uuid4().hex[:8]}",
            )
            await uow.messages.add(message)
            await uow.commit()
        self.conversation_id = conversation.id
        return message.id

    async def turn(self, message_id: MessageId, **settings: Any) -> ConversationTurnResult:
        assert self.conversation_id is not None
        engine = await self.engine(**settings)
        return await engine.execute(ConversationTurnInput(self.tenant_id, self.conversation_id, message_id))

    async def conversation(self) -> Conversation:
        uow_factory = await self.container.get(UnitOfWorkFactory)
        assert self.conversation_id is not None
        async with uow_factory(self.tenant_id) as uow:
            found = await uow.conversations.get(self.tenant_id, self.conversation_id)
        assert found is not None
        return found

    async def replies(self) -> list[dict[str, Any]]:
        rows = await self.db.fetch(
            "SELECT * FROM messages WHERE direction = 'outbound' AND sender = 'bot' ORDER BY created_at"
        )
        return [dict(row) | {"content": json.loads(row["content"])} for row in rows]

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        rows = await self.db.fetch("SELECT payload FROM outbox WHERE type = $1 ORDER BY seq", event_type)
        return [json.loads(row["payload"])["data"] for row in rows]

    async def tool_calls(self) -> list[dict[str, Any]]:
        return [dict(row) for row in await self.db.fetch("SELECT * FROM tool_calls ORDER BY created_at, iteration")]


async def make_world(
    client: Client,
    container: AsyncContainer,
    db: asyncpg.Connection,
    *,
    kind: str = "whatsapp",
    indexed: bool = True,
    **settings: Any,
) -> World:
    tenant = await create_tenant(client, "Acme", brand_name="Acme Shop", **settings)
    config: dict[str, Any] = {"phone_number_id": "106540352242922"} if kind == "whatsapp" else {}
    secrets = {"access_token": "token"} if kind == "whatsapp" else {}
    channel = await create_channel(client, tenant["id"], kind=kind, name="main", config=config, secrets=secrets)
    world = World(container, db, TenantId(uuid.UUID(tenant["id"])), ChannelId(uuid.UUID(channel["id"])))
    if indexed:
        # The turn searches only a tenant with something indexed.
        await store_indexed_document(
            await container.get(UnitOfWorkFactory), world.tenant_id, "Refund policy", [REFUNDS.text], HashingEmbedder()
        )
    return world


@pytest.fixture
async def world(client: Client, container: AsyncContainer, db: asyncpg.Connection) -> World:
    return await make_world(client, container, db)


async def test_an_answer_goes_out_with_its_sources_as_footnotes(world: World) -> None:
    world.model.queued.append(ChatCompletion(text="Refunds are paid within 30 days [1].", model="gpt-test"))
    question = await world.say("How long do refunds take?")

    result = await world.turn(question)

    assert result.outcome is TurnOutcome.REPLIED
    assert world.knowledge.queries == ["How long do refunds take?"]
    assert world.gateway.sent[0].kind == "typing"
    assert world.gateway.texts() == ["Refunds are paid within 30 days [1].\n\nSources:\n[1] Refund policy"]
    [reply] = await world.replies()
    assert reply["id"] == result.reply_id
    assert reply["status"] == "sent"
    assert reply["provider_message_id"] == "wamid.fake1"
    assert reply["idempotency_key"] == f"reply:{question}"
    assert reply["content"]["in_reply_to"] == [str(question)]
    assert reply["content"]["citations"] == [
        {"number": 1, "document_id": "d-refunds", "title": "Refund policy", "url": None}
    ]
    [sent_event] = await world.events("message.sent")
    assert sent_event["citations"][0]["title"] == "Refund policy"
    system = world.model.requests[0].messages[0]
    assert system.role is ChatRole.SYSTEM
    assert "Acme Shop" in system.content
    assert "[1] Refund policy" in system.content
    assert "[2] Shipping" in system.content


async def test_the_model_searches_and_every_tool_call_is_recorded(world: World) -> None:
    world.knowledge.passages = []
    world.model.queued.extend(
        [calls("search_knowledge_base", '{"query": "refund time"}'), ChatCompletion(text="Within 30 days [1].")]
    )
    question = await world.say("refunds?")

    await world.turn(question)

    assert "none matched" in world.model.requests[0].messages[0].content
    tool_result = world.model.requests[1].messages[-1]
    assert tool_result.role is ChatRole.TOOL
    assert tool_result.content.startswith("No passages")
    world.knowledge.passages = [REFUNDS]
    world.model.queued.extend(
        [calls("search_knowledge_base", '{"query": "refund time"}'), ChatCompletion(text="Within 30 days [1].")]
    )
    follow_up = await world.say("and again?")
    await world.turn(follow_up)
    assert world.gateway.texts()[-1].endswith("Sources:\n[1] Refund policy")
    recorded = await world.tool_calls()
    assert [(row["name"], row["iteration"], row["ok"]) for row in recorded] == [
        ("search_knowledge_base", 1, True),
        ("search_knowledge_base", 1, True),
    ]
    assert json.loads(recorded[0]["arguments"]) == {"query": "refund time"}
    assert recorded[1]["message_id"] == follow_up


async def test_the_tool_loop_stops_after_five_rounds(world: World) -> None:
    world.model.default = calls("search_knowledge_base", '{"query": "again"}')
    question = await world.say("loop forever")

    result = await world.turn(question)

    assert len(world.model.requests) == 5
    assert [request.allow_tools for request in world.model.requests] == [True, True, True, True, False]
    assert len(await world.tool_calls()) == 4
    assert result.outcome is TurnOutcome.REPLIED
    assert "couldn't finish looking into that" in world.gateway.texts()[0]
    assert "“human”" in world.gateway.texts()[0]


async def test_a_handoff_keyword_hands_over_without_a_bot_reply(world: World) -> None:
    question = await world.say("Human please!")

    result = await world.turn(question)

    assert result.outcome is TurnOutcome.HANDED_OFF
    assert world.model.requests == []
    assert world.gateway.sent == []
    conversation = await world.conversation()
    assert conversation.state is ConversationState.HUMAN
    [event] = await world.events("conversation.handoff")
    assert event["trigger"] == "keyword"
    assert event["matched"] == "human"
    assert event["message_id"] == str(question)


async def test_a_question_with_a_keyword_inside_is_answered(world: World) -> None:
    question = await world.say("Can you help me with pricing? My travel agent asked.")

    result = await world.turn(question)

    assert result.outcome is TurnOutcome.REPLIED
    assert (await world.conversation()).state is ConversationState.BOT


async def test_the_model_can_hand_the_conversation_over(world: World) -> None:
    world.model.queued.append(calls("handoff_to_human", '{"reason": "wants a refund exception"}'))
    question = await world.say("I am furious, fix this now")

    result = await world.turn(question)

    assert result.outcome is TurnOutcome.HANDED_OFF
    assert world.gateway.texts() == []
    [event] = await world.events("conversation.handoff")
    assert (event["trigger"], event["reason"]) == ("assistant", "wants a refund exception")
    assert [row["name"] for row in await world.tool_calls()] == ["handoff_to_human"]


async def test_messages_to_a_conversation_with_a_person_reach_the_agents_only(world: World) -> None:
    await world.turn(await world.say("agent"))
    question = await world.say("hello? anyone?")

    result = await world.turn(question)

    assert result.outcome is TurnOutcome.WITH_HUMAN
    assert world.gateway.texts() == []
    [event] = await world.events("conversation.awaiting_agent")
    assert event["message_ids"] == [str(question)]
    assert event["text"] == "hello? anyone?"


async def test_a_burst_is_answered_once_and_later_tasks_do_nothing(world: World) -> None:
    burst = [await world.say("hi"), await world.say("I ordered a lamp"), await world.say("where is it?")]

    results = [await world.turn(message_id) for message_id in burst]

    assert [result.outcome for result in results] == [
        TurnOutcome.REPLIED,
        TurnOutcome.ALREADY_ANSWERED,
        TurnOutcome.ALREADY_ANSWERED,
    ]
    assert len(world.gateway.texts()) == 1
    [reply] = await world.replies()
    assert reply["content"]["in_reply_to"] == [str(message_id) for message_id in burst]
    user_turn = [message.content for message in world.model.requests[0].messages if message.role is ChatRole.USER]
    assert user_turn == ["hi", "I ordered a lamp", "where is it?"]


async def test_a_redelivered_task_sends_nothing_twice(world: World) -> None:
    question = await world.say("where is my parcel?")

    first = await world.turn(question)
    second = await world.turn(question)

    assert (first.outcome, second.outcome) == (TurnOutcome.REPLIED, TurnOutcome.ALREADY_ANSWERED)
    assert len(world.gateway.texts()) == 1


async def test_a_reply_left_pending_by_a_dead_worker_is_not_resent(world: World) -> None:
    question = await world.say("where is my parcel?")
    uow_factory = await world.container.get(UnitOfWorkFactory)
    assert world.conversation_id is not None
    async with uow_factory(world.tenant_id) as uow:
        # What a worker killed between claiming the reply and hearing back from Meta leaves behind.
        pending = Message(
            id=MessageId(new_id()),
            tenant_id=world.tenant_id,
            conversation_id=world.conversation_id,
            channel_id=world.channel_id,
            direction=Direction.OUTBOUND,
            sender=SenderRole.BOT,
            type=MessageType.TEXT,
            text="It is on its way.",
            content={"in_reply_to": [str(question)]},
            status=DeliveryStatus.PENDING,
            idempotency_key=f"reply:{question}",
        )
        assert await uow.turns.add_claimed(pending)
        await uow.commit()

    result = await world.turn(question)

    assert result.outcome is TurnOutcome.ALREADY_ANSWERED
    assert world.gateway.sent == []
    [reply] = await world.replies()
    assert reply["status"] == "failed"
    assert json.loads(reply["error"])["code"] == "delivery_unknown"
    [failed] = await world.events("message.failed")
    assert failed["error"]["code"] == "delivery_unknown"


async def test_an_agent_reply_while_the_bot_thinks_wins(world: World) -> None:
    question = await world.say("is the shop open on sunday?")
    assert world.conversation_id is not None
    conversation_id = world.conversation_id

    async def agent_replies() -> None:
        send = SendAgentMessage(
            await world.container.get(UnitOfWorkFactory),
            world.gateway,
            await world.container.get(DeliveryOutcomes),
            SystemClock(),
        )
        await send.execute(SendAgentMessageInput(ADMIN, world.tenant_id, conversation_id, "Yes, 10 to 4!"))

    world.model.before_answer = agent_replies

    result = await world.turn(question)

    assert result.outcome is TurnOutcome.DROPPED
    assert world.gateway.texts() == ["Yes, 10 to 4!"]
    assert await world.replies() == []
    assert (await world.conversation()).state is ConversationState.HUMAN


async def test_a_message_arriving_while_the_bot_thinks_is_answered_together(world: World) -> None:
    first = await world.say("I want to return a lamp")
    later: list[MessageId] = []

    async def user_writes_again() -> None:
        later.append(await world.say("it arrived broken"))

    world.model.before_answer = user_writes_again

    dropped = await world.turn(first)
    answered = await world.turn(later[0])

    assert (dropped.outcome, answered.outcome) == (TurnOutcome.DROPPED, TurnOutcome.REPLIED)
    assert len(world.gateway.texts()) == 1
    [reply] = await world.replies()
    assert reply["content"]["in_reply_to"] == [str(first), str(later[0])]


async def test_an_answer_with_nothing_since_its_question_is_claimed_outside_any_transaction(world: World) -> None:
    engine = await world.container.get(AsyncEngine)
    world.model.queued.extend(
        [ChatCompletion(text="Within 30 days [1]."), calls("search_knowledge_base", '{"query": "refunds"}')]
    )
    claims: list[list[str]] = []
    for text in ("refunds?", "and for shoes?"):
        question = await world.say(text)
        with recorded_statements(engine) as statements:
            assert (await world.turn(question)).outcome is TurnOutcome.REPLIED
        claims.append([sql for sql in statements if "FOR UPDATE" in sql or "outbound_sends" in sql])

    # The plain answer's claim is the one statement on the tenant's session (its lock and ledger are not the
    # transaction's); the answer after a tool call claims in the transaction that records the call.
    assert claims[0] == []
    assert len(claims[1]) == 2
    replies = await world.replies()
    assert [reply["idempotency_key"] is not None for reply in replies] == [True, True]
    numbers = await world.db.fetch("SELECT direction, seq FROM messages ORDER BY seq")
    assert [(row["direction"], row["seq"]) for row in numbers] == [
        ("inbound", 1),
        ("outbound", 2),
        ("inbound", 3),
        ("outbound", 4),
    ]


async def test_outside_the_whatsapp_window_without_a_template_the_reply_is_recorded_failed(world: World) -> None:
    question = await world.say("still there?", last_inbound=datetime.now(UTC) - timedelta(hours=25))

    result = await world.turn(question)

    assert result.outcome is TurnOutcome.REPLY_FAILED
    assert world.gateway.texts() == []
    [reply] = await world.replies()
    assert reply["status"] == "failed"
    assert json.loads(reply["error"])["code"] == "window_closed"
    [failed] = await world.events("message.failed")
    assert failed["error"]["code"] == "window_closed"


async def test_outside_the_whatsapp_window_the_tenants_template_goes_instead(
    client: Client, container: AsyncContainer, db: asyncpg.Connection
) -> None:
    world = await make_world(client, container, db, whatsapp_reengagement_template="we_are_back")
    question = await world.say("still there?", last_inbound=datetime.now(UTC) - timedelta(hours=25))

    result = await world.turn(question)

    assert result.outcome is TurnOutcome.REPLIED
    assert [(item.kind, item.template) for item in world.gateway.sent if item.kind != "typing"] == [
        ("template", "we_are_back")
    ]
    [reply] = await world.replies()
    assert reply["type"] == "template"
    assert reply["content"]["withheld_text"] == "Default answer."


async def test_a_failing_tenant_tool_becomes_a_tool_result_not_a_crash(world: World) -> None:
    register = RegisterTenantTool(
        await world.container.get(UnitOfWorkFactory),
        await world.container.get(SecretCipher),
        WebhookAddressPolicy(allow_private=True),
    )
    await register.execute(
        RegisterTenantToolInput(
            actor=ADMIN,
            tenant_id=world.tenant_id,
            name="lookup_order",
            description="Find an order by number",
            parameters={"type": "object", "properties": {"number": {"type": "string"}}, "required": ["number"]},
            url="http://127.0.0.1:9/orders",
            secret="s" * 32,
        )
    )
    world.invoker.response = ToolResponse(ok=False, content="the tool did not answer within 10s")
    world.model.queued.extend(
        [
            calls("lookup_order", '{"number": "A-7"}'),
            calls("lookup_order", "{not json"),
            ChatCompletion(text="I could not look that up right now."),
        ]
    )
    question = await world.say("where is order A-7?")

    result = await world.turn(question)

    assert result.outcome is TurnOutcome.REPLIED
    [invocation] = world.invoker.requests
    assert invocation.secret == "s" * 32
    assert invocation.body["arguments"] == {"number": "A-7"}
    assert invocation.body["conversation_id"] == str(world.conversation_id)
    offered = {tool.name for tool in world.model.requests[0].tools}
    assert offered == {"search_knowledge_base", "handoff_to_human", "lookup_order"}
    results = [request.messages[-1].content for request in world.model.requests[1:]]
    assert results == [
        "error: the tool did not answer within 10s",
        "error: the arguments are not valid JSON: {not json",
    ]
    assert [row["ok"] for row in await world.tool_calls()] == [False, False]


async def test_when_the_model_is_down_the_user_is_offered_a_person(world: World) -> None:
    world.model.queued.append(unavailable())
    question = await world.say("refunds?")

    await world.turn(question)

    assert "write “human”" in world.gateway.texts()[0]


async def test_without_a_language_model_the_best_passages_are_quoted(world: World) -> None:
    from adapters.extractive.chat_model import ExtractiveChatModel

    world.model = ExtractiveChatModel()  # type: ignore[assignment]
    question = await world.say("How long do refunds take?")

    await world.turn(question)

    [text] = world.gateway.texts()
    assert text.startswith("No language model is configured")
    assert "“Refunds are paid within 30 days.” [1]" in text
    assert text.endswith("Sources:\n[1] Refund policy")


async def test_without_a_language_model_or_passages_the_assistant_says_so(world: World) -> None:
    from adapters.extractive.chat_model import ExtractiveChatModel

    world.model = ExtractiveChatModel()  # type: ignore[assignment]
    world.knowledge.passages = []
    question = await world.say("Do you sell bikes?")

    await world.turn(question)

    [text] = world.gateway.texts()
    assert "couldn't find anything about that" in text
    assert "“human”" in text


async def search_for_real(world: World) -> HashingEmbedder:
    """The tenant's real hybrid search in place of the fake one; the returned embedder counts the queries."""
    embedder = HashingEmbedder()
    search = SearchKnowledge(await world.container.get(UnitOfWorkFactory), embedder)
    world.knowledge = TenantKnowledgeSearch(search)  # type: ignore[assignment]
    return embedder


async def test_a_tenant_without_knowledge_is_answered_without_embedding_or_searching(
    client: Client, container: AsyncContainer, db: asyncpg.Connection
) -> None:
    world = await make_world(client, container, db, indexed=False)
    embedder = await search_for_real(world)
    question = await world.say("How long do refunds take?")

    result = await world.turn(question)

    assert result.outcome is TurnOutcome.REPLIED
    assert embedder.calls == []
    [request] = world.model.requests
    # Nothing to search: the model is told so and not offered a search it would spend a round trip on.
    assert "the business has not added any yet" in request.messages[0].content
    assert {tool.name for tool in request.tools} == {"handoff_to_human"}
    assert world.gateway.texts() == ["Default answer."]


async def test_without_knowledge_or_a_language_model_nothing_is_searched_and_a_person_is_offered(
    client: Client, container: AsyncContainer, db: asyncpg.Connection
) -> None:
    from adapters.extractive.chat_model import ExtractiveChatModel

    world = await make_world(client, container, db, indexed=False)
    world.model = ExtractiveChatModel()  # type: ignore[assignment]
    question = await world.say("How long do refunds take?")

    await world.turn(question)

    assert world.knowledge.queries == []
    [text] = world.gateway.texts()
    assert "couldn't find anything about that" in text
    assert "“human”" in text


async def test_a_document_indexed_mid_conversation_is_used_by_the_next_turn(
    client: Client, container: AsyncContainer, db: asyncpg.Connection
) -> None:
    world = await make_world(client, container, db, indexed=False)
    embedder = await search_for_real(world)
    await world.turn(await world.say("How long do refunds take?"))
    assert embedder.calls == []

    uow_factory = await container.get(UnitOfWorkFactory)
    await store_indexed_document(uow_factory, world.tenant_id, "Refund policy", [REFUNDS.text], HashingEmbedder())
    world.model.queued.append(ChatCompletion(text="Refunds are paid within 30 days [1]."))
    result = await world.turn(await world.say("So how long do refunds take?"))

    assert result.outcome is TurnOutcome.REPLIED
    assert embedder.calls == [1]
    assert "[1] Refund policy\nRefunds are paid within 30 days." in world.model.requests[1].messages[0].content
    assert "search_knowledge_base" in {tool.name for tool in world.model.requests[1].tools}
    assert world.gateway.texts()[-1] == "Refunds are paid within 30 days [1].\n\nSources:\n[1] Refund policy"


async def test_whether_there_is_knowledge_is_read_with_the_tenant_and_gates_every_search_statement(
    client: Client, container: AsyncContainer, db: asyncpg.Connection
) -> None:
    engine = await container.get(AsyncEngine)
    uow_factory = await container.get(UnitOfWorkFactory)
    empty = await make_world(client, container, db, indexed=False)
    stocked = await make_world(client, container, db, kind="webchat")  # one WhatsApp number per platform
    loads: list[list[str]] = []
    for world in (empty, stocked):
        await search_for_real(world)
        question = await world.say("How long do refunds take?")
        assert world.conversation_id is not None
        with recorded_statements(engine) as statements:
            async with uow_factory(world.tenant_id) as uow:
                await HandleConversationTurn.load(
                    uow, ConversationTurnInput(world.tenant_id, world.conversation_id, question)
                )
        loads.append(statements)
    follow_up = await empty.say("And for shoes?")
    with recorded_statements(engine) as empty_turn:
        await empty.turn(follow_up)

    # The same reads for both tenants (tenant with its tools and the history, conversation, channel): the
    # knowledge check, the tools and the history ride on the tenant's read rather than costing round trips.
    assert [len(statements) for statements in loads] == [3, 3]
    assert [[sql for sql in statements if "chunks" in sql] for statements in loads] == [
        [sql for sql in statements if "FROM tenants" in sql] for statements in loads
    ]
    # The turn without knowledge runs no search statement at all.
    assert [sql for sql in empty_turn if "chunks" in sql or "kb_" in sql] == [loads[0][0]]


async def test_web_chat_answers_stream_under_the_reply_id(
    client: Client, container: AsyncContainer, db: asyncpg.Connection
) -> None:
    world = await make_world(client, container, db, kind="webchat")
    world.model.queued.append(ChatCompletion(text="Parcels ship within 2 days [2]."))
    question = await world.say("shipping time?")

    result = await world.turn(question)

    assert world.stream.typing_shown == [world.conversation_id]
    assert {reply_id for reply_id, _ in world.stream.deltas} == {str(result.reply_id)}
    assert "".join(text for _, text in world.stream.deltas).strip() == "Parcels ship within 2 days [2]."
    # The widget renders citations as links itself: the text carries no footnotes.
    assert world.gateway.texts() == ["Parcels ship within 2 days [1]."]
    [reply] = await world.replies()
    assert reply["content"]["citations"][0]["title"] == "Shipping"


async def test_a_taps_text_is_the_input(world: World) -> None:
    tap = await world.say("Track my order", kind=MessageType.INTERACTIVE_REPLY)

    await world.turn(tap)

    assert world.model.requests[0].messages[-1].content == "(chose “Track my order”)"


async def test_a_reply_being_sent_when_its_task_is_cancelled_is_still_recorded(world: World) -> None:
    sending, release = asyncio.Event(), asyncio.Event()
    deliver = world.gateway.send_text

    async def slow_send(channel: Any, to: str, text: str, reply_to: str | None = None) -> list[str]:
        sending.set()
        await release.wait()
        return await deliver(channel, to, text, reply_to)

    world.gateway.send_text = slow_send  # type: ignore[method-assign]
    question = await world.say("where is my parcel?")
    turn = asyncio.create_task(world.turn(question))
    await sending.wait()

    # The broker connection drops: the worker cancels the handler while Meta is being called.
    turn.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await turn

    for _ in range(100):
        replies = await world.replies()
        if replies and replies[0]["status"] != "pending":
            break
        await asyncio.sleep(0.02)
    assert [reply["status"] for reply in replies] == ["sent"]
    assert len(await world.events("message.sent")) == 1
