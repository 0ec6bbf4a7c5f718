"""Retrieval quality over the sample course: hit@1, hit@3, and off-topic rejection.

Ingests course/ into a temporary index with the real embedded embedder
(all-MiniLM-L6-v2), then asks every question of bench/data/retrieval_questions.jsonl.
A hit@k is the labelled lesson among the first k passages' sources. Off-topic questions
(lesson null) should come back empty. Compares dense-only with hybrid (dense + BM25) and
sweeps the relevance threshold.

    python bench/retrieval_quality.py [--misses]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import load_config  # noqa: E402
from knowledge.retriever import CourseRetriever  # noqa: E402
from knowledge.service import CourseKnowledge  # noqa: E402

QUESTIONS = ROOT / "bench" / "data" / "retrieval_questions.jsonl"


def evaluate(retriever: CourseRetriever, rows, vectors, k: int = 3):
    hits1 = hits3 = answered = rejected = 0
    misses = []
    for row, vector in zip(rows, vectors, strict=True):
        passages = retriever.search_with_vector(row["question"], vector, k)
        sources = [p.source for p in passages]
        if row["lesson"] is None:
            rejected += not passages
            continue
        answered += 1
        hits1 += sources[:1] == [row["lesson"]]
        hits3 += row["lesson"] in sources[:3]
        if row["lesson"] not in sources[:3]:
            misses.append((row["question"], row["lesson"], sources))
    return hits1 / answered, hits3 / answered, rejected, misses


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list the questions missed")
    args = parser.parse_args()
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    on_topic = sum(row["lesson"] is not None for row in rows)
    off_topic = len(rows) - on_topic
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_config(ROOT / "config.toml", {"TUTOR_DATA_DIR": tmp})
        knowledge = CourseKnowledge(settings)
        report = await knowledge.ingest([ROOT / "course"])
        retriever = knowledge.retriever
        assert retriever is not None
        vectors = await knowledge.embedder.embed([row["question"] for row in rows])
        base = retriever.options
        print(f"Sample course: {report.files} lessons, {report.total_chunks} chunks")
        print(f"Questions: {on_topic} on the course, {off_topic} off-topic")
        print(f"Embedder: {knowledge.embedder.name}; configured {base}\n")
        print(f"{'variant':<34} {'hit@1':>6} {'hit@3':>6} {'off-topic rejected':>19}")
        variants = [
            ("dense only", replace(base, keyword_weight=0.0)),
            (f"hybrid (keyword_weight={base.keyword_weight})", base),
        ]
        variants += [
            (f"  threshold {t:.2f}", replace(base, relevance_threshold=t))
            for t in (0.25, 0.30, 0.35, 0.40, 0.45)
        ]
        variants += [
            (f"  keyword_weight {w:.1f}", replace(base, keyword_weight=w)) for w in (0.5, 0.7)
        ]
        configured_misses = []
        for label, options in variants:
            retriever.options = options
            hit1, hit3, rejected, misses = evaluate(retriever, rows, vectors)
            if options == base:
                configured_misses = misses
            print(f"{label:<34} {hit1:>6.3f} {hit3:>6.3f} {rejected:>12}/{off_topic}")
        if args.misses:
            print("\nMissed at 3 (configured):")
            for question, lesson, sources in configured_misses:
                print(f"  {question!r}: want {lesson}, got {sources}")
        await knowledge.aclose()


if __name__ == "__main__":
    asyncio.run(main())
