"""OpenAIChatModel against a local server speaking the OpenAI protocol (the real `openai` client)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from adapters.openai.chat_model import ChatModelSettings, OpenAIChatModel
from application.ports.llm import ChatMessage, ChatModelUnavailable, ChatRequest, ChatRole, ToolCall, ToolSpec
from tests.fakes.openai_server import CHAT_PATH, FakeOpenAIServer, ScriptedResponse, ScriptedTurn

LOOKUP = ToolSpec(
    name="lookup_order",
    description="Find an order",
    parameters={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
)


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as running:
        yield running


def model(server: FakeOpenAIServer, **settings: object) -> OpenAIChatModel:
    options = {"model": "gpt-test", "retry_base_delay": 0.01, "retry_max_delay": 0.02, **settings}
    return OpenAIChatModel(server.client(), ChatModelSettings(**options))  # type: ignore[arg-type]


def question(text: str = "Where is my order 42?", *, allow_tools: bool = True) -> ChatRequest:
    return ChatRequest(
        messages=(ChatMessage(ChatRole.SYSTEM, "Be brief."), ChatMessage(ChatRole.USER, text)),
        tools=(LOOKUP,),
        allow_tools=allow_tools,
        max_output_tokens=123,
    )


async def test_plain_answer_and_the_request_it_sent(server: FakeOpenAIServer) -> None:
    server.chat.enqueue(ScriptedTurn(text="It ships tomorrow."))

    completion = await model(server).complete(question())

    assert completion.text == "It ships tomorrow."
    assert completion.tool_calls == ()
    assert completion.prompt_tokens is not None
    sent = server.requests_to(CHAT_PATH)[0].json
    assert sent["model"] == "gpt-test"
    assert sent["max_tokens"] == 123
    assert sent["tool_choice"] == "auto"
    assert sent["tools"][0]["function"]["name"] == "lookup_order"
    assert [message["role"] for message in sent["messages"]] == ["system", "user"]


async def test_tool_calls_come_back_with_their_raw_arguments(server: FakeOpenAIServer) -> None:
    server.chat.enqueue(ScriptedTurn.call("lookup_order", order_id="42"))

    completion = await model(server).complete(question())

    assert len(completion.tool_calls) == 1
    call = completion.tool_calls[0]
    assert call.name == "lookup_order"
    assert json.loads(call.arguments) == {"order_id": "42"}


async def test_tool_results_and_calls_are_sent_in_the_protocol_shape(server: FakeOpenAIServer) -> None:
    server.chat.enqueue(ScriptedTurn(text="done"))
    call = ToolCall(id="call_1", name="lookup_order", arguments='{"order_id": "42"}')
    request = ChatRequest(
        messages=(
            ChatMessage(ChatRole.USER, "order 42?"),
            ChatMessage(ChatRole.ASSISTANT, "", tool_calls=(call,)),
            ChatMessage(ChatRole.TOOL, "shipped", tool_call_id="call_1"),
        ),
        tools=(LOOKUP,),
        allow_tools=False,
    )

    await model(server).complete(request)

    sent = server.requests_to(CHAT_PATH)[0].json
    assert sent["tool_choice"] == "none"
    assistant, tool = sent["messages"][1], sent["messages"][2]
    assert assistant["tool_calls"][0]["function"] == {"name": "lookup_order", "arguments": '{"order_id": "42"}'}
    assert assistant["content"] is None
    assert tool == {"role": "tool", "tool_call_id": "call_1", "content": "shipped"}


async def test_streaming_forwards_pieces_in_order_and_returns_the_whole(server: FakeOpenAIServer) -> None:
    server.chat.enqueue(ScriptedTurn(text="Your order ships tomorrow morning."))
    pieces: list[str] = []

    async def collect(piece: str) -> None:
        pieces.append(piece)

    completion = await model(server).complete(question(), collect)

    assert len(pieces) > 1
    assert "".join(pieces) == "Your order ships tomorrow morning." == completion.text
    assert server.requests_to(CHAT_PATH)[0].json["stream"] is True


async def test_streamed_tool_call_deltas_are_assembled(server: FakeOpenAIServer) -> None:
    server.chat.enqueue(ScriptedTurn(tool_calls=ScriptedTurn.call("lookup_order", order_id="A-1").tool_calls * 2))

    async def ignore(_: str) -> None:
        return None

    completion = await model(server).complete(question(), ignore)

    assert [call.name for call in completion.tool_calls] == ["lookup_order", "lookup_order"]
    assert all(json.loads(call.arguments) == {"order_id": "A-1"} for call in completion.tool_calls)
    assert len({call.id for call in completion.tool_calls}) == 2


async def test_nul_characters_from_the_model_are_dropped(server: FakeOpenAIServer) -> None:
    # Postgres text and jsonb cannot hold them: an answer or arguments with one would fail the turn's write.
    server.chat.enqueue(ScriptedTurn(text="It ships\x00 tomorrow."))
    server.chat.enqueue(ScriptedTurn.call("lookup_order", order_id="A-\x001"))
    server.chat.enqueue(ScriptedTurn(text="Streamed\x00 too."))
    pieces: list[str] = []

    async def collect(piece: str) -> None:
        pieces.append(piece)

    assert (await model(server).complete(question())).text == "It ships tomorrow."
    [call] = (await model(server).complete(question())).tool_calls
    assert json.loads(call.arguments) == {"order_id": "A-1"}
    assert (await model(server).complete(question(), collect)).text == "Streamed too." == "".join(pieces)


async def test_rate_limits_and_server_errors_are_retried(server: FakeOpenAIServer) -> None:
    server.script.enqueue(
        CHAT_PATH, ScriptedResponse.error(429, "slow down"), ScriptedResponse.error(503, "overloaded")
    )
    server.chat.enqueue(ScriptedTurn(text="finally"))

    completion = await model(server).complete(question())

    assert completion.text == "finally"
    assert len(server.requests_to(CHAT_PATH)) == 3


async def test_a_refused_request_is_not_retried(server: FakeOpenAIServer) -> None:
    server.script.enqueue(CHAT_PATH, ScriptedResponse.error(400, "bad tools"))

    with pytest.raises(ChatModelUnavailable):
        await model(server).complete(question())

    assert len(server.requests_to(CHAT_PATH)) == 1


async def test_retries_give_up_after_the_last_attempt(server: FakeOpenAIServer) -> None:
    server.script.enqueue(CHAT_PATH, *[ScriptedResponse.error(500, "down")] * 3)

    with pytest.raises(ChatModelUnavailable):
        await model(server, max_attempts=3).complete(question())

    assert len(server.requests_to(CHAT_PATH)) == 3


async def test_a_model_that_does_not_answer_in_time_times_out(server: FakeOpenAIServer) -> None:
    server.chat.enqueue(ScriptedTurn(hang=True))

    with pytest.raises(ChatModelUnavailable):
        await model(server, timeout_seconds=0.3, max_attempts=1).complete(question())
    server.release_hung()
