"""Search latency at 1,000 and 100,000 chunks, query embedding included.

The index is synthetic: chunk texts are recombined sentences of the sample course (so
keyword search sees a realistic vocabulary) with random unit vectors (HNSW search costs
the same for any vectors). Each query goes through the real all-MiniLM-L6-v2 embedder and
the whole hybrid search, exactly as the bot runs it (the index's calibration is measured
once, before timing, as the first search does). Prints median and 95th percentile.

    python bench/search_latency.py            # 1,000 and 100,000 chunks (a few minutes)
    python bench/search_latency.py --quick    # 1,000 and 10,000 chunks
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import load_config  # noqa: E402
from knowledge.chunking import Chunk, LessonInfo  # noqa: E402
from knowledge.embeddings import SentenceTransformerEmbedder  # noqa: E402
from knowledge.index import CourseIndex  # noqa: E402
from knowledge.retriever import CourseRetriever, SearchOptions  # noqa: E402
from knowledge.store import FileRecord  # noqa: E402

CHUNKS_PER_FILE = 500
QUERIES = 200


def sentences() -> list[str]:
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "course").glob("*.md")))
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n{2,}", text) if len(s.strip()) > 20]


def build(index: CourseIndex, total: int, dims: int, rng: random.Random) -> float:
    pool = sentences()
    vectors = np.random.default_rng(1).standard_normal((CHUNKS_PER_FILE, dims), dtype=np.float32)
    started = time.perf_counter()
    index.begin_changes()
    for number in range(total // CHUNKS_PER_FILE):
        lesson = LessonInfo(f"synthetic/{number:05d}.md", f"Synthetic {number}", number)
        chunks = [
            Chunk(" ".join(rng.sample(pool, 4)), (f"Part {i}",), i) for i in range(CHUNKS_PER_FILE)
        ]
        np.random.default_rng(number).shuffle(vectors)  # distinct vectors per file
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        record = FileRecord(f"f{number:05d}", "synthetic", "x", lesson, len(chunks))
        index.replace_file(record, chunks, vectors.tolist())
        if number % 20 == 19:
            print(f"  ... {(number + 1) * CHUNKS_PER_FILE:,} chunks", file=sys.stderr)
    index.commit_changes()
    return time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def measure(size: int, embedder: SentenceTransformerEmbedder, questions: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_config(ROOT / "config.toml", {"TUTOR_DATA_DIR": tmp})
        index = CourseIndex.open(settings, embedder.name, create=True)
        dims = len((await embedder.embed(["x"]))[0])
        seconds = build(index, size, dims, random.Random(size))
        retriever = CourseRetriever(index, embedder, SearchOptions.from_config(settings.knowledge))
        started = time.perf_counter()
        await retriever.calibrate()  # once per version of the index, stored in its sidecar
        calibrated = time.perf_counter() - started
        for question in questions[:10]:  # warm caches
            await retriever.search(question)
        total, embed, search = [], [], []
        answered = 0
        for i in range(QUERIES):
            question = questions[i % len(questions)]
            t0 = time.perf_counter()
            vector = (await embedder.embed([retriever.embedding_text(question)]))[0]
            t1 = time.perf_counter()
            found = await asyncio.to_thread(retriever.search_with_vector, question, vector, 4)
            answered += bool(found)
            t2 = time.perf_counter()
            total.append((t2 - t0) * 1000)
            embed.append((t1 - t0) * 1000)
            search.append((t2 - t1) * 1000)
        index.close()
    print(
        f"{size:>9,} chunks (built in {seconds:6.1f} s, calibrated in {calibrated:5.1f} s): "
        f"search median {statistics.median(total):6.1f} ms, p95 {percentile(total, 0.95):6.1f} ms"
        f"  [query embedding median {statistics.median(embed):5.1f} ms,"
        f" index median {statistics.median(search):5.1f} ms, p95 {percentile(search, 0.95):5.1f};"
        f" {answered}/{QUERIES} answered]"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 instead of 100,000 chunks")
    parser.add_argument("--sizes", type=int, nargs="+", help="chunk counts to measure")
    args = parser.parse_args()
    rows = (ROOT / "bench" / "data" / "retrieval_questions.jsonl").read_text().splitlines()
    questions = [json.loads(row)["question"] for row in rows if row.strip()]
    embedder = SentenceTransformerEmbedder()
    started = time.perf_counter()
    await embedder.warm()
    print(f"Embedder {embedder.name} loaded in {time.perf_counter() - started:.1f} s")
    print(f"{QUERIES} queries per size, end to end (embed + dense + keyword + merge)")
    for size in args.sizes or (1_000, 10_000 if args.quick else 100_000):
        await measure(size, embedder, questions)


if __name__ == "__main__":
    asyncio.run(main())
