import math
import socket
from collections.abc import AsyncIterator

import openai
import pytest

from adapters.openai.embedder import OpenAIEmbedder
from application.ports.embeddings import Embedder, EmbeddingError
from tests.fakes.openai_server import EMBEDDINGS_PATH, FakeOpenAIServer, ScriptedResponse, fake_embedding

DIMENSION = 8
MODEL = "text-embedding-3-small"


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer(embedding_dimension=DIMENSION) as running:
        yield running


@pytest.fixture
async def client(server: FakeOpenAIServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with server.client() as opened:
        yield opened


def make_embedder(client: openai.AsyncOpenAI, **options: int | float) -> OpenAIEmbedder:
    return OpenAIEmbedder(client, model=MODEL, dimension=DIMENSION, retry_base_delay=0.01, **options)  # type: ignore[arg-type]


def normalised(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector]


def test_is_an_embedder(client: openai.AsyncOpenAI) -> None:
    embedder: Embedder = make_embedder(client)
    assert (embedder.model_name, embedder.dimension) == (MODEL, DIMENSION)


def test_reads_openais_8191_token_window_unless_told_another_and_has_no_tokenizer(
    client: openai.AsyncOpenAI,
) -> None:
    assert (make_embedder(client).max_input_tokens, make_embedder(client).token_counter) == (8191, None)
    assert make_embedder(client, max_input_tokens=512).max_input_tokens == 512
    with pytest.raises(ValueError, match="max_input_tokens"):
        make_embedder(client, max_input_tokens=0)


async def test_batches_inputs_and_keeps_their_order(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    texts = [f"chunk number {i}" for i in range(300)]

    vectors = await make_embedder(client, batch_size=128).embed(texts)

    requests = server.requests_to(EMBEDDINGS_PATH)
    assert [len(request.json["input"]) for request in requests] == [128, 128, 44]
    assert [text for request in requests for text in request.json["input"]] == texts
    assert all(request.json["model"] == MODEL for request in requests)
    assert len(vectors) == len(texts)
    for text, vector in zip(texts, vectors, strict=True):
        assert vector == pytest.approx(normalised(fake_embedding(text, DIMENSION)), abs=1e-6)


async def test_asks_for_base64_encoding_and_returns_unit_vectors(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    vectors = await make_embedder(client).embed(["How do I reset my password?"])

    assert server.requests_to(EMBEDDINGS_PATH)[0].json["encoding_format"] == "base64"
    assert math.sqrt(sum(value * value for value in vectors[0])) == pytest.approx(1.0, abs=1e-9)
    assert vectors[0] == pytest.approx(normalised(fake_embedding("How do I reset my password?", DIMENSION)), abs=1e-6)


async def test_a_server_ignoring_the_encoding_answers_floats_and_is_understood(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    floats = [3.0, 4.0] + [0.0] * (DIMENSION - 2)
    server.script.enqueue(
        EMBEDDINGS_PATH,
        ScriptedResponse.of_json(
            {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": floats}],
                "model": MODEL,
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        ),
    )

    vectors = await make_embedder(client).embed(["hello"])

    assert vectors == [pytest.approx([0.6, 0.8] + [0.0] * (DIMENSION - 2))]


async def test_malformed_base64_raises(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    server.script.enqueue(
        EMBEDDINGS_PATH,
        ScriptedResponse.of_json(
            {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": "AAAA/w"}],
                "model": MODEL,
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        ),
    )

    with pytest.raises(EmbeddingError, match="malformed"):
        await make_embedder(client).embed(["hello"])


async def test_no_texts_sends_no_request(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    assert await make_embedder(client).embed([]) == []
    assert server.requests == []


@pytest.mark.parametrize("status", [429, 408, 409])
async def test_retries_a_rate_limit_timeout_or_conflict_then_succeeds(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI, status: int
) -> None:
    # The statuses the openai client itself retries, and so does the chat model.
    server.script.enqueue(EMBEDDINGS_PATH, ScriptedResponse.error(status, "try again", error_type="requests"))

    vectors = await make_embedder(client).embed(["hello"])

    assert len(server.requests_to(EMBEDDINGS_PATH)) == 2
    assert vectors[0] == pytest.approx(normalised(fake_embedding("hello", DIMENSION)), abs=1e-6)


async def test_retries_server_errors_then_gives_up(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    server.script.enqueue(EMBEDDINGS_PATH, *[ScriptedResponse.error(503, "overloaded", error_type="server")] * 3)

    with pytest.raises(EmbeddingError, match="after 3 attempts"):
        await make_embedder(client, max_attempts=3).embed(["hello"])

    assert len(server.requests_to(EMBEDDINGS_PATH)) == 3


async def test_the_clients_own_retries_are_off(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    # The client was built with the openai default (2 retries); only our single attempt may reach the server.
    server.script.enqueue(EMBEDDINGS_PATH, ScriptedResponse.error(429, "Rate limit reached", error_type="requests"))

    with pytest.raises(EmbeddingError):
        await make_embedder(client, max_attempts=1).embed(["hello"])

    assert len(server.requests_to(EMBEDDINGS_PATH)) == 1


async def test_bad_request_raises_without_retry(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    server.script.enqueue(EMBEDDINGS_PATH, ScriptedResponse.error(400, "'$.input' is invalid"))

    with pytest.raises(EmbeddingError, match="input' is invalid"):
        await make_embedder(client).embed(["hello"])

    assert len(server.requests_to(EMBEDDINGS_PATH)) == 1


async def test_wrong_vector_length_raises(server: FakeOpenAIServer) -> None:
    async with server.client() as client:
        embedder = OpenAIEmbedder(client, model=MODEL, dimension=DIMENSION * 2)
        with pytest.raises(EmbeddingError, match="8-d vectors"):
            await embedder.embed(["hello"])


async def test_unreachable_server_raises_embedding_error() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="test-key") as client:
        with pytest.raises(EmbeddingError, match="after 2 attempts"):
            await make_embedder(client, max_attempts=2).embed(["hello"])


async def test_fake_server_answers_base64_when_no_format_is_named(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    # The openai client asks for base64 unless told otherwise and decodes it; other tests rely on the fake
    # speaking both forms like the real API.
    response = await client.embeddings.create(input=["a", "b"], model=MODEL)

    assert server.requests_to(EMBEDDINGS_PATH)[0].json["encoding_format"] == "base64"
    assert [item.embedding for item in response.data] == [
        pytest.approx(fake_embedding(text, DIMENSION), abs=1e-6) for text in ("a", "b")
    ]
