"""The assistant's turn: from the user's stored message(s) to a reply through the channel.

Order of business — a conversation with a person gets no bot answer (agents are told by event); a request
for a person hands the conversation over; otherwise the knowledge base is searched (when the tenant has
indexed anything), the language model answers (calling tools for at most `max_iterations` rounds, each
call recorded), and the answer is sent with its sources cited.

Crash safety: the reply is stored as `pending` under the idempotency key `reply:<last input id>` before it
is sent, in the same transaction that checks nobody else answered meanwhile. A redelivered task therefore
finds its message answered and sends nothing; a reply left `pending` by a worker that died mid-send is
recorded as failed ("delivery_unknown") instead of being sent again — on WhatsApp and Messenger a
duplicate cannot be taken back, a missing answer can be followed up (the message.failed event says so).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from enum import StrEnum

import attrs

from application.conversations import delivery
from application.conversations.prompt import Knowledge, PromptBudget, build_prompt
from application.conversations.state_changes import hand_off
from application.conversations.turn_tools import SourceBook, ToolOutcome, TurnToolbox
from application.conversations.views import conversation_event, message_event
from application.ports.channel_gateway import ChannelGateway, ChannelSendError
from application.ports.clock import Clock
from application.ports.delivery_outcomes import DeliveryOutcomes
from application.ports.knowledge_search import KnowledgePassage, KnowledgeSearch
from application.ports.llm import ChatMessage, ChatModel, ChatModelUnavailable, ChatRequest, ChatRole, DeltaSink
from application.ports.reply_claims import ReplyClaims
from application.ports.reply_stream import ReplyStream
from application.ports.security import SecretCipher
from application.ports.tool_invoker import ToolInvoker
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from domain.channels.channel import Channel
from domain.common.ids import ConversationId, MessageId, TenantId, new_id
from domain.conversations.citations import resolve_citations
from domain.conversations.conversation import Conversation, ConversationState
from domain.conversations.handoff import HandoffRequest, HandoffTrigger, detect_handoff_request
from domain.conversations.message import DeliveryStatus, Direction, Message, MessageError, MessageType, SenderRole
from domain.conversations.phrases import Phrase, phrase
from domain.conversations.tool_call import ToolCallRecord
from domain.conversations.turn import IN_REPLY_TO, TurnSplit, answers, is_bot_input, split_turn
from domain.events import EventType
from domain.tenants.tenant import Tenant
from domain.tools.tenant_tool import TenantTool

logger = logging.getLogger(__name__)

MAX_TOOL_ITERATIONS = 5
# How far back the turn looks for unanswered messages and history (the token budget trims further).
TIMELINE_WINDOW = 60
RETRIEVAL_QUERY_CHARS = 1000
DELIVERY_UNKNOWN = MessageError(
    code="delivery_unknown",
    title="the worker stopped while sending; whether the reply reached the user is unknown",
    details="not resent, to avoid a duplicate; follow up from your agent tool if needed",
    retryable=False,
)


class TurnOutcome(StrEnum):
    REPLIED = "replied"
    # The reply was recorded as failed (channel refused it, WhatsApp window closed without a template).
    REPLY_FAILED = "reply_failed"
    HANDED_OFF = "handed_off"
    WITH_HUMAN = "with_human"
    ALREADY_ANSWERED = "already_answered"
    # An agent replied, or the user wrote again, while the answer was being written: it is not sent.
    DROPPED = "dropped"
    NOT_FOUND = "not_found"
    CHANNEL_INACTIVE = "channel_inactive"


@attrs.frozen
class ConversationTurnInput:
    tenant_id: TenantId
    conversation_id: ConversationId
    message_id: MessageId


@attrs.frozen
class HeldRows:
    """Rows of the turn that the transaction reading it holds already, as they are in it: the conversation it
    has just written (so locked by it), the channel it has read and the inbound message it has staged (a
    write the turn's read does not see, see `MessageRepository.stage`). `load` takes them instead of reading
    them again; they are worth nothing outside that transaction."""

    conversation: Conversation
    channel: Channel
    inbound: Message


@attrs.frozen
class ConversationTurnResult:
    outcome: TurnOutcome
    reply_id: MessageId | None = None
    detail: str = ""


@attrs.frozen
class _Turn:
    tenant: Tenant
    conversation: Conversation
    channel: Channel
    # The message whose task this is (it may have been answered already, by a merged turn).
    trigger_id: MessageId
    split: TurnSplit
    tenant_tools: tuple[TenantTool, ...]
    # Whether the tenant has indexed anything: without it neither the automatic retrieval nor the model's
    # search tool runs, as they could only come back empty after paying for an embedding (an API call with
    # OpenAI) and two searches, and the model for a round trip.
    has_knowledge: bool
    # Chosen up front: streamed pieces of the answer and the stored reply carry the same id.
    reply_id: MessageId = attrs.field(factory=lambda: MessageId(new_id()))

    @property
    def language(self) -> str:
        return self.tenant.settings.language

    @property
    def knowledge(self) -> Knowledge:
        if not self.tenant.settings.rag.enabled:
            return Knowledge.OFF
        return Knowledge.SEARCHABLE if self.has_knowledge else Knowledge.EMPTY

    @property
    def last_input(self) -> Message:
        return self.split.inputs[-1]

    @property
    def idempotency_key(self) -> str:
        return f"reply:{self.last_input.id}"


# What `load` read: the turn's inputs, or the outcome when there is nothing to answer from.
LoadedTurn = _Turn | ConversationTurnResult


@attrs.frozen
class _Answer:
    text: str
    model: str
    records: tuple[ToolCallRecord, ...]
    handoff_reason: str | None = None


@attrs.frozen
class TurnEngineSettings:
    max_tool_iterations: int = MAX_TOOL_ITERATIONS
    max_output_tokens: int = 800


class HandleConversationTurn:
    def __init__(
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
        settings: TurnEngineSettings | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._gateway = gateway
        self._outcomes = outcomes
        self._claims = claims
        self._model = chat_model
        self._knowledge = knowledge
        self._invoker = invoker
        self._cipher = cipher
        self._stream = reply_stream
        self._clock = clock
        self._settings = settings or TurnEngineSettings()

    async def execute(self, data: ConversationTurnInput) -> ConversationTurnResult:
        async with self._uow_factory(data.tenant_id) as uow:
            loaded = await self.load(uow, data)
        return await self.answer(loaded)

    async def answer(self, loaded: LoadedTurn) -> ConversationTurnResult:
        """The turn from its inputs on, as `load` read them."""
        if isinstance(loaded, ConversationTurnResult):
            return loaded
        turn = loaded
        if turn.trigger_id not in {message.id for message in turn.split.inputs}:
            await self._give_up_unconfirmed(turn)
            return ConversationTurnResult(TurnOutcome.ALREADY_ANSWERED)
        if not turn.channel.active:
            return ConversationTurnResult(TurnOutcome.CHANNEL_INACTIVE)
        if turn.conversation.state is not ConversationState.BOT:
            await self._notify_agents(turn)
            return ConversationTurnResult(TurnOutcome.WITH_HUMAN)
        request = self._handoff_request(turn)
        if request is not None:
            reason = f"the user asked for a person (“{request.matched}”)"
            handed = await self._hand_off(turn, reason, request.trigger, request.matched, ())
            return ConversationTurnResult(TurnOutcome.HANDED_OFF if handed else TurnOutcome.DROPPED)

        await self._show_typing(turn)
        book = SourceBook()
        passages = await self._retrieve(turn) if turn.knowledge is Knowledge.SEARCHABLE else []
        book.add(passages)
        answer = await self._converse(turn, book)
        if answer.handoff_reason is not None:
            handed = await self._hand_off(turn, answer.handoff_reason, HandoffTrigger.ASSISTANT, "", answer.records)
            return ConversationTurnResult(TurnOutcome.HANDED_OFF if handed else TurnOutcome.DROPPED)
        cited = resolve_citations(answer.text, book.sources)
        return await self._reply(turn, cited.text, [citation.to_dict() for citation in cited.citations], answer)

    # --- loading ----------------------------------------------------------------------------------

    @staticmethod
    async def load(uow: UnitOfWork, data: ConversationTurnInput, held: HeldRows | None = None) -> LoadedTurn:
        """Read what the turn works from, in the caller's transaction: the inbox task reads it in the one
        that stored the message (a transaction less per message), where `held` spares reading again what
        that transaction has just written or read; nothing is written."""
        found, timeline = await uow.turns.tenant_and_timeline(data.tenant_id, data.conversation_id, TIMELINE_WINDOW)
        if held is not None and held.conversation.id == data.conversation_id:
            conversation: Conversation | None = held.conversation
            timeline = _with_message(timeline, held.inbound)
        else:
            held = None
            conversation = await uow.conversations.get(data.tenant_id, data.conversation_id)
        if found is None or conversation is None:
            return ConversationTurnResult(TurnOutcome.NOT_FOUND)
        channel = (
            held.channel
            if held is not None and held.channel.id == conversation.channel_id
            else await uow.channels.get(data.tenant_id, conversation.channel_id)
        )
        if channel is None:
            return ConversationTurnResult(TurnOutcome.CHANNEL_INACTIVE)
        # A message older than the window has long been answered (or merged into a later turn).
        return _Turn(
            found.tenant,
            conversation,
            channel,
            data.message_id,
            split_turn(timeline),
            found.tools,
            has_knowledge=found.has_knowledge,
        )

    async def _give_up_unconfirmed(self, turn: _Turn) -> None:
        """A reply claimed for this message but never confirmed sent: its worker died mid-send."""
        stuck = [reply for reply in turn.split.unconfirmed if answers(reply, turn.trigger_id)]
        if not stuck:
            return
        async with self._uow_factory(turn.tenant.id) as uow:
            events = []
            for reply in stuck:
                current = await uow.messages.get(reply.tenant_id, reply.id)
                if current is None or current.status is not DeliveryStatus.PENDING:
                    continue
                current.apply_status(DeliveryStatus.FAILED, DELIVERY_UNKNOWN)
                await uow.messages.update_delivery(current)
                events.append(message_event(current, turn.conversation.contact_id))
            await uow.outbox.add(events)
            await uow.commit()
        logger.warning(
            "reply left pending by a stopped worker recorded as delivery_unknown", extra={"count": len(stuck)}
        )

    # --- people -----------------------------------------------------------------------------------

    def _handoff_request(self, turn: _Turn) -> HandoffRequest | None:
        settings = turn.tenant.settings
        for message in turn.split.inputs:
            request = detect_handoff_request(message.text, settings.handoff_keywords, settings.language)
            if request is not None:
                return request
        return None

    async def _hand_off(
        self,
        turn: _Turn,
        reason: str,
        trigger: HandoffTrigger,
        matched: str,
        records: Sequence[ToolCallRecord],
    ) -> bool:
        async with self._uow_factory(turn.tenant.id) as uow:
            await uow.turns.record_tool_calls(records)
            conversation = await uow.turns.lock_conversation(turn.tenant.id, turn.conversation.id)
            handed = conversation is not None and await hand_off(
                uow, conversation, reason=reason, trigger=trigger, matched=matched, message_id=turn.last_input.id
            )
            await uow.commit()
        return handed

    async def _notify_agents(self, turn: _Turn) -> None:
        """The user wrote to a conversation a person has: the agents' tools hear of it, the bot stays quiet."""
        async with self._uow_factory(turn.tenant.id) as uow:
            await uow.outbox.add(
                [
                    conversation_event(
                        EventType.CONVERSATION_AWAITING_AGENT,
                        turn.conversation,
                        message_ids=[str(message.id) for message in turn.split.inputs],
                        text="\n".join(message.text for message in turn.split.inputs),
                        handoff_reason=turn.conversation.handoff_reason,
                    )
                ]
            )
            await uow.commit()

    # --- answering --------------------------------------------------------------------------------

    async def _show_typing(self, turn: _Turn) -> None:
        try:
            if self._stream.streams(turn.channel):
                await self._stream.typing(turn.channel, turn.conversation.id, True)
            else:
                await self._gateway.typing(
                    turn.channel, turn.conversation.contact_id, True, turn.last_input.provider_message_id
                )
        except ChannelSendError as error:
            # Cosmetic: a refused typing indicator must not cost the user their answer.
            logger.info("typing indicator not shown", extra={"code": error.code})

    async def _retrieve(self, turn: _Turn) -> list[KnowledgePassage]:
        query = "\n".join(message.text for message in turn.split.inputs if message.text)[:RETRIEVAL_QUERY_CHARS]
        if not query.strip():
            return []
        try:
            return await self._knowledge.search(turn.tenant.id, query, turn.tenant.settings.rag.top_k)
        except Exception:  # retrieval is best effort: the model can still search, or say it does not know
            logger.warning("knowledge retrieval failed; answering without passages", exc_info=True)
            return []

    async def _converse(self, turn: _Turn, book: SourceBook) -> _Answer:
        settings = turn.tenant.settings
        if not self._model.uses_language_model and not book.sources:
            # Nothing to quote: say so and offer a person rather than make something up.
            nothing = phrase(Phrase.NOTHING_FOUND, turn.language, keyword=_first_keyword(turn))
            return _Answer(nothing, self._model.name, ())
        toolbox = TurnToolbox(
            knowledge=self._knowledge,
            searchable=turn.knowledge is Knowledge.SEARCHABLE,
            search_limit=settings.rag.top_k,
            tenant_tools=turn.tenant_tools,
            invoker=self._invoker,
            cipher=self._cipher,
            conversation=turn.conversation,
            sources=book,
        )
        specs = toolbox.specs if self._model.uses_language_model else ()
        prompt = build_prompt(
            assistant_name=settings.brand_name or turn.tenant.name,
            settings=settings,
            sources=book.sources,
            knowledge=turn.knowledge,
            history=turn.split.history,
            turn_inputs=turn.split.inputs,
            tools=specs,
            budget=PromptBudget(self._model.context_tokens, self._settings.max_output_tokens),
        )
        messages = list(prompt.messages)
        records: list[ToolCallRecord] = []
        on_delta = self._delta_sink(turn)
        limit = self._settings.max_tool_iterations
        fallback = phrase(Phrase.CANNOT_ANSWER, turn.language, keyword=_first_keyword(turn))
        for iteration in range(1, limit + 1):
            last_round = iteration == limit
            try:
                completion = await self._model.complete(
                    ChatRequest(
                        messages=tuple(messages),
                        tools=specs,
                        allow_tools=bool(specs) and not last_round,
                        max_output_tokens=self._settings.max_output_tokens,
                        sources=prompt.sources,
                        language=turn.language,
                    ),
                    on_delta,
                )
            except ChatModelUnavailable:
                logger.warning("the language model did not answer", exc_info=True)
                return _Answer(fallback, self._model.name, tuple(records))
            if not completion.tool_calls or last_round:
                return _Answer(completion.text.strip() or fallback, completion.model, tuple(records))
            messages.append(ChatMessage(ChatRole.ASSISTANT, completion.text, tool_calls=completion.tool_calls))
            for call in completion.tool_calls:
                outcome = await toolbox.run(call)
                records.append(self._record(turn, iteration, call.id, call.name, outcome))
                messages.append(ChatMessage(ChatRole.TOOL, outcome.content, tool_call_id=call.id))
                if outcome.handoff_reason is not None:
                    return _Answer("", completion.model, tuple(records), handoff_reason=outcome.handoff_reason)
        raise AssertionError("the loop returns on its last round")

    def _delta_sink(self, turn: _Turn) -> DeltaSink | None:
        if not self._stream.streams(turn.channel):
            return None

        async def forward(text: str) -> None:
            await self._stream.delta(turn.channel, turn.conversation.id, str(turn.reply_id), text)

        return forward

    @staticmethod
    def _record(turn: _Turn, iteration: int, call_id: str, name: str, outcome: ToolOutcome) -> ToolCallRecord:
        return ToolCallRecord(
            id=new_id(),
            tenant_id=turn.tenant.id,
            conversation_id=turn.conversation.id,
            message_id=turn.last_input.id,
            iteration=iteration,
            call_id=call_id,
            name=name,
            arguments=outcome.arguments,
            result=outcome.content,
            ok=outcome.ok,
            duration_ms=outcome.duration_ms,
        )

    # --- replying ---------------------------------------------------------------------------------

    async def _reply(
        self, turn: _Turn, text: str, citations: list[dict[str, object]], answer: _Answer
    ) -> ConversationTurnResult:
        reply = Message(
            id=turn.reply_id,
            tenant_id=turn.tenant.id,
            conversation_id=turn.conversation.id,
            channel_id=turn.channel.id,
            direction=Direction.OUTBOUND,
            sender=SenderRole.BOT,
            type=MessageType.TEXT,
            text=text,
            content={
                IN_REPLY_TO: [str(message.id) for message in turn.split.inputs],
                "citations": citations,
                "model": answer.model,
            },
            status=DeliveryStatus.PENDING,
            idempotency_key=turn.idempotency_key,
        )
        claim = await self._claim(turn, reply, answer.records)
        if claim is not None:
            return claim
        if reply.status is DeliveryStatus.PENDING:
            # Once sending starts, a cancelled task (broker connection lost, shutdown) still records the
            # outcome: otherwise a reply that went out would look unconfirmed and be reported as unknown.
            await asyncio.shield(
                delivery.send_and_record(
                    self._gateway, self._outcomes, turn.channel, turn.conversation, reply, turn.language
                )
            )
        sent = reply.status is not DeliveryStatus.FAILED
        return ConversationTurnResult(
            TurnOutcome.REPLIED if sent else TurnOutcome.REPLY_FAILED,
            reply.id,
            "" if reply.error is None else reply.error.code,
        )

    async def _claim(
        self, turn: _Turn, reply: Message, records: Sequence[ToolCallRecord]
    ) -> ConversationTurnResult | None:
        """Store the reply as pending unless someone else spoke meanwhile; None means go ahead and send."""
        if (
            not records
            and delivery.goes_as_it_is(reply, turn.conversation, turn.channel, self._clock.now())
            and await self._claims.claim_unanswered(reply, turn.last_input)
        ):
            # The common case, in one statement: nothing was stored since the last input. The window can only
            # have widened since the conversation was read, as only an inbound message moves it.
            return None
        async with self._uow_factory(turn.tenant.id) as uow:
            await uow.turns.record_tool_calls(records)
            conversation = await uow.turns.lock_conversation(turn.tenant.id, turn.conversation.id)
            if conversation is None:
                await uow.commit()
                return ConversationTurnResult(TurnOutcome.NOT_FOUND)
            if conversation.state is not ConversationState.BOT:
                await uow.commit()
                return ConversationTurnResult(TurnOutcome.DROPPED, detail="a person took the conversation over")
            newer = await uow.turns.messages_after(turn.tenant.id, conversation.id, turn.last_input.created_at)
            if any(_speaks_for_business(message) for message in newer):
                await uow.commit()
                return ConversationTurnResult(TurnOutcome.DROPPED, detail="the conversation was answered meanwhile")
            if any(is_bot_input(message) for message in newer):
                # Its own turn answers everything since the last reply, this message included.
                await uow.commit()
                return ConversationTurnResult(TurnOutcome.DROPPED, detail="the user wrote again")
            delivery.fit_to_window(reply, conversation, turn.channel, turn.tenant.settings, self._clock.now())
            if not await uow.turns.add_claimed(reply):
                await uow.commit()
                return ConversationTurnResult(TurnOutcome.ALREADY_ANSWERED)
            if reply.status is DeliveryStatus.FAILED:
                await uow.outbox.add([message_event(reply, conversation.contact_id)])
            await uow.commit()
        return None


def _speaks_for_business(message: Message) -> bool:
    return message.direction is Direction.OUTBOUND and message.sender in (SenderRole.BOT, SenderRole.AGENT)


def _first_keyword(turn: _Turn) -> str:
    keywords = turn.tenant.settings.handoff_keywords
    return keywords[0] if keywords else "human"


def _with_message(timeline: list[Message], message: Message) -> list[Message]:
    """The timeline as its read would have given it, had the read seen the message's write: the newest
    `TIMELINE_WINDOW` messages, oldest first, ordered as the read orders them (creation time, then id)."""
    if any(item.id == message.id for item in timeline):
        return timeline
    return sorted([*timeline, message], key=lambda item: (item.created_at, item.id))[-TIMELINE_WINDOW:]
