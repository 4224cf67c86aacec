"""Throughput and latency of the local all-MiniLM-L6-v2 embedder.

Run: uv run python bench/embeddings.py
"""

import asyncio
import json
import os
import statistics
import time
from pathlib import Path

from adapters.local_embeddings.embedder import LocalMiniLMEmbedder

CORPUS = Path("/work/shared/datasets/stackfaq/corpus.jsonl")
SENTENCES = 200
LATENCY_SAMPLES = 50


def corpus_texts(count: int) -> list[str]:
    with CORPUS.open(encoding="utf-8") as lines:
        texts = [json.loads(line)["text"] for line in lines]
    return [text for text in texts if text.strip()][:count]


async def main() -> None:
    embedder = LocalMiniLMEmbedder()
    started = time.perf_counter()
    await embedder.embed(["warm up: loads the weights"])
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (other work skews results)")
    print(f"first call (weights load + one text): {time.perf_counter() - started:.2f} s")

    texts = corpus_texts(SENTENCES)
    mean_chars = statistics.fmean(len(text) for text in texts)
    started = time.perf_counter()
    await embedder.embed(texts)
    elapsed = time.perf_counter() - started
    print(f"{len(texts)} stackfaq answers (mean {mean_chars:.0f} chars): {len(texts) / elapsed:.1f} sentences/s")

    short = [text.split(".")[0][:80] for text in texts]
    started = time.perf_counter()
    await embedder.embed(short)
    elapsed = time.perf_counter() - started
    print(f"{len(short)} short sentences (first sentence, <= 80 chars): {len(short) / elapsed:.1f} sentences/s")

    for label, samples in (("stackfaq answer", texts), ("short sentence", short)):
        latencies = []
        for text in samples[:LATENCY_SAMPLES]:
            started = time.perf_counter()
            await embedder.embed([text])
            latencies.append(time.perf_counter() - started)
        p50 = statistics.median(latencies) * 1000
        print(f"single {label} latency: p50 {p50:.1f} ms over {LATENCY_SAMPLES} texts")
    embedder.close()


if __name__ == "__main__":
    asyncio.run(main())
