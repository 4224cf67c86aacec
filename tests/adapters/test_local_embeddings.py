"""The NumPy all-MiniLM-L6-v2 must give what sentence-transformers gives (torch is not installed here)."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from adapters.local_embeddings.embedder import LocalMiniLMEmbedder
from application.ports.embeddings import Embedder, EmbeddingError

# First six values of SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2").encode(...) for these
# texts, as published in the reference test of an independent ONNX port (R package "sbert"); the first row
# also matches DJL's PyTorch example output (0.0676569, 0.063...).
REFERENCE_PREFIXES = {
    "This is an example sentence": [0.06765693, 0.06349593, 0.04871314, 0.07930495, 0.03744806, 0.00265273],
    "Each sentence is converted.": [0.07853645, 0.08856265, -0.00209270, -0.00717247, -0.01252624, 0.01881747],
    "": [-0.11883835, 0.04829856, -0.00254805, -0.01101118, 0.05195070, 0.01029179],
    "Café déjà vu — 東京": [0.05083271, 0.00967685, 0.09635572, -0.00997369, -0.01987603, 0.01692343],
}


@pytest.fixture(scope="module")
def embedder() -> Iterator[LocalMiniLMEmbedder]:
    local = LocalMiniLMEmbedder()
    yield local
    local.close()


async def embed(embedder: LocalMiniLMEmbedder, texts: list[str]) -> np.ndarray:
    return np.array(await embedder.embed(texts))


def test_is_an_embedder(embedder: LocalMiniLMEmbedder) -> None:
    port: Embedder = embedder
    assert (port.model_name, port.dimension, port.max_input_tokens) == ("all-MiniLM-L6-v2", 384, 254)
    assert port.token_counter is not None


async def test_matches_published_sentence_transformers_values(embedder: LocalMiniLMEmbedder) -> None:
    vectors = await embed(embedder, list(REFERENCE_PREFIXES))

    assert vectors.shape == (4, 384)
    np.testing.assert_allclose(vectors[:, :6], np.array(list(REFERENCE_PREFIXES.values())), atol=1e-5)


async def test_vectors_are_unit_length(embedder: LocalMiniLMEmbedder) -> None:
    vectors = await embed(embedder, ["short", "a somewhat longer sentence about billing and invoices"])

    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


async def test_paraphrases_are_closer_than_unrelated_texts(embedder: LocalMiniLMEmbedder) -> None:
    question, paraphrase, unrelated = await embed(
        embedder,
        ["How do I reset my password?", "I forgot my password, how can I change it?", "The weather in Paris is sunny"],
    )

    assert question @ paraphrase > 0.7
    assert question @ unrelated < 0.2


async def test_a_text_gets_the_same_vector_alone_or_in_any_batch(embedder: LocalMiniLMEmbedder) -> None:
    # Mixed lengths: texts are sorted, split into padded batches and put back in order.
    texts = [
        "Where is my order?",
        "word " * 120,
        "Refunds are issued to the original payment method within 5 business days.",
        "ok",
        "Our support team answers WhatsApp messages from 9am to 6pm, Monday to Friday, except public holidays.",
    ]

    together = await embed(embedder, texts)
    alone = np.vstack([await embed(embedder, [text]) for text in texts])
    again = await embed(embedder, list(reversed(texts)))

    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(together, again[::-1], atol=1e-5)


async def test_truncates_at_256_word_pieces_like_sentence_transformers(embedder: LocalMiniLMEmbedder) -> None:
    # "word" is one word piece; [CLS] and [SEP] take the other two of the 256 positions. tokenizer.json
    # itself says 128, which would make the first two texts equal.
    at_limit, changed_below_limit, changed_beyond_limit, beyond_positions = await embed(
        embedder,
        [
            "word " * 254,
            "word " * 200 + "banana " * 54,
            "word " * 254 + "completely different ending " * 40,
            "word " * 600,
        ],
    )

    assert np.abs(changed_below_limit - at_limit).max() > 1e-3
    np.testing.assert_allclose(changed_beyond_limit, at_limit, atol=1e-6)
    np.testing.assert_allclose(beyond_positions, at_limit, atol=1e-6)


async def test_the_window_is_counted_in_the_models_own_word_pieces(embedder: LocalMiniLMEmbedder) -> None:
    counter, window = embedder.token_counter, embedder.max_input_tokens
    filled = "word " * (window - 1) + "banana"
    assert counter.count(filled) == window
    # The last piece the counter allows still changes the vector; one piece more changes nothing.
    full, other_last_piece, one_more = await embed(
        embedder, [filled, "word " * (window - 1) + "cherry", filled + " cherry"]
    )
    assert np.abs(other_last_piece - full).max() > 1e-3
    np.testing.assert_allclose(one_more, full, atol=1e-6)


def test_counts_whole_texts_without_special_tokens(embedder: LocalMiniLMEmbedder) -> None:
    # tokenizer.json itself pads and truncates at 128; [CLS]/[SEP] are the model's, not the text's.
    assert [embedder.token_counter.count(text) for text in ["", "word", "word " * 600, "Refunds: 30 days."]] == [
        0,
        1,
        600,
        6,
    ]


async def test_no_texts_gives_no_vectors(embedder: LocalMiniLMEmbedder) -> None:
    assert await embedder.embed([]) == []


async def test_the_event_loop_keeps_running_while_embedding(embedder: LocalMiniLMEmbedder) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    texts = [f"Question {i}: how can I change the delivery address of order {i}?" for i in range(64)]
    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    await embedder.embed(texts)
    elapsed = time.perf_counter() - started
    ticking.cancel()

    # A blocked loop gives no tick at all; a free one ticks every 5 ms, or every few tens of ms when other
    # processes share the cores.
    assert elapsed > 0.05
    assert ticks >= max(3, elapsed / 0.05)


async def test_missing_model_files_raise_embedding_error(tmp_path: Path) -> None:
    broken = LocalMiniLMEmbedder(model_dir=tmp_path)
    try:
        with pytest.raises(EmbeddingError, match="cannot load all-MiniLM-L6-v2"):
            await broken.embed(["hello"])
        with pytest.raises(EmbeddingError, match="cannot load the all-MiniLM-L6-v2 tokenizer"):
            broken.token_counter.count("hello")
    finally:
        broken.close()
