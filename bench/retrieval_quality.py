"""Retrieval quality on three courses: hit@1, hit@3, MRR and off-topic rejection.

The courses are the sample course (``course/``, written by the team) and two built from
documentation that ships with Python (``pyref``, ``stdlib``; see ``bench/_courses.py``),
ingested with the real embedded embedder (all-MiniLM-L6-v2) into ``bench/out/eval``.
The questions are the content questions of ``eval/courses/<course>.jsonl`` (the lesson
that answers is labelled), and the off-topic questions of ``eval/courses/offtopic.jsonl``,
which should come back empty on every course. Every set is split: tune on ``tune``, only
measure on ``holdout``.

A hit@k is the labelled lesson among the first k results; MRR is the mean of 1/rank of
the labelled lesson (0 when it is not in the first ``k``); "repeats" counts result lists
that name one source twice.

    python bench/retrieval_quality.py [--split tune|holdout|all] [--variants] [--misses]
    python bench/retrieval_quality.py --split tune --wordllama  # WordLlama's weight
    python bench/retrieval_quality.py --split tune --typos  # one typo per question

``--typos`` asks every content question again with one typo in one of its longer words
(two letters swapped, one dropped or one doubled; seeded, so every run makes the same
ones), with the spelling correction on and off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _eval import DEFAULT_DATA, open_course  # noqa: E402
from _questions import COURSES, load_questions, with_typo  # noqa: E402

from knowledge.embeddings import SentenceTransformerEmbedder  # noqa: E402
from knowledge.retriever import CourseRetriever, SearchOptions  # noqa: E402

OFF_TOPIC = ROOT / "eval" / "courses" / "offtopic.jsonl"
K = 4  # results per question, as the bot asks (config k)


@dataclass
class Score:
    questions: int = 0
    hit1: int = 0
    hit3: int = 0
    rr: float = 0.0
    off_topic: int = 0
    rejected: int = 0
    repeats: int = 0

    def row(self) -> str:
        n = max(self.questions, 1)
        return (
            f"{self.questions:>4} {self.hit1 / n:>6.3f} {self.hit3 / n:>6.3f} {self.rr / n:>6.3f}"
            f" {self.rejected:>5}/{self.off_topic:<3} {self.repeats:>7}"
        )


def evaluate(
    retriever: CourseRetriever,
    questions: list[tuple[str, str | None]],
    vectors: list[list[float]],
    misses: list[str] | None = None,
) -> Score:
    """``questions`` are (text, lesson); lesson None means off-topic."""
    score = Score()
    for (text, lesson), vector in zip(questions, vectors, strict=True):
        sources = [p.source for p in retriever.search_with_vector(text, vector, K)]
        score.repeats += len(sources) != len(set(sources))
        if lesson is None:
            score.off_topic += 1
            score.rejected += not sources
            if sources and misses is not None:
                misses.append(f"  off-topic {text!r} -> {sources[:2]}")
            continue
        score.questions += 1
        score.hit1 += sources[:1] == [lesson]
        score.hit3 += lesson in sources[:3]
        if lesson in sources:
            score.rr += 1 / (sources.index(lesson) + 1)
        if sources[:1] != [lesson] and misses is not None:
            at = "missed at 3" if lesson not in sources[:3] else "second or third"
            misses.append(f"  {at}: {text!r}: want {lesson}, got {sources}")
    return score


def question_set(course: str, split: str | None) -> list[tuple[str, str | None]]:
    content = [
        (q.question, q.lesson)
        for q in load_questions(course, split)
        if q.kind == "content" and q.lesson
    ]
    rows = [json.loads(line) for line in OFF_TOPIC.read_text().splitlines() if line.strip()]
    off = [(r["question"], None) for r in rows if split is None or r["split"] == split]
    return content + off


def static_variants(base: SearchOptions) -> list[tuple[str, SearchOptions]]:
    """WordLlama's whole-lesson ranking (static embeddings shipped in the wheel): off, and
    at a range of fusion weights."""
    return [
        ("configured", base),
        ("wordllama off", replace(base, static_weight=0.0)),
        *[(f"wordllama {w}", replace(base, static_weight=w)) for w in (0.2, 0.3, 0.5, 0.6, 0.8)],
        ("wordllama 0.4, no BM25", replace(base, keyword_weight=0.0)),
    ]


def variants(base: SearchOptions) -> list[tuple[str, SearchOptions]]:
    """The configured options, and what each change is worth beside it."""
    return [
        ("configured", base),
        ("dense only", replace(base, keyword_weight=0.0)),
        ("keyword: FTS5 chunks", replace(base, keyword_index="chunks")),
        ("FTS5 chunks, weight 0.15", replace(base, keyword_index="chunks", keyword_weight=0.15)),
        ("no query rewriting", replace(base, rewrite_short=False)),
        ("one chunk per source off", replace(base, distinct_sources=False)),
        ("relative cut 0.0", replace(base, relative_cut=0.0)),
        ("relative cut 0.6", replace(base, relative_cut=0.6)),
        ("relative cut 0.7", replace(base, relative_cut=0.7)),
        ("relative cut 0.8", replace(base, relative_cut=0.8)),
        ("keyword_weight 0.1", replace(base, keyword_weight=0.1)),
        ("keyword_weight 0.15", replace(base, keyword_weight=0.15)),
        ("keyword_weight 0.3", replace(base, keyword_weight=0.3)),
        ("keyword_weight 0.45", replace(base, keyword_weight=0.45)),
        ("keyword_weight 0.6", replace(base, keyword_weight=0.6)),
        ("no title cards", replace(base, card_weight=0.0)),
        ("card_weight 0.35", replace(base, card_weight=0.35)),
        ("fixed threshold 0.35", replace(base, relevance="fixed")),
        ("rrf_k 20", replace(base, rrf_k=20)),
        ("rrf_k 100", replace(base, rrf_k=100)),
    ]


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    embedder = SentenceTransformerEmbedder()
    splits = ["tune", "holdout"] if args.split == "all" else [args.split]
    header = f"{'course':<8} {'split':<8} {'variant':<26} {'n':>4} {'hit@1':>6} {'hit@3':>6}"
    header += f" {'MRR':>6} {'off-topic':>9} {'repeats':>7}"
    lines: list[str] = []
    missed: list[str] = []
    options_shown: object = None
    for course in args.courses:
        _, knowledge = await open_course(course, args.data, embedder)
        retriever = knowledge.retriever
        assert retriever is not None
        base = retriever.options
        options_shown = base
        chunks = await asyncio.to_thread(retriever.index.count)
        lessons = len(await asyncio.to_thread(retriever.index.lessons))
        print(f"{course}: {lessons} lessons, {chunks} chunks", file=sys.stderr)
        for split in splits:
            questions = question_set(course, split)
            print(f"{course} {split}: {await retriever.calibrate()}", file=sys.stderr)
            chosen = [("configured", base)]
            if args.variants:
                chosen = variants(base)
            elif args.wordllama:
                chosen = static_variants(base)
            asked = {"configured": questions}
            if args.typos:
                rng = random.Random(7)
                typos = [(with_typo(t, rng) if lesson else t, lesson) for t, lesson in questions]
                chosen += [
                    ("typos", base),
                    ("typos, no correction", replace(base, correct_spelling=False)),
                    ("no correction", replace(base, correct_spelling=False)),
                ]
                asked |= {"typos": typos, "typos, no correction": typos}
            for label, options in chosen:
                retriever.options = options
                questions = asked.get(label, asked["configured"])
                texts = [retriever.embedding_text(text) for text, _ in questions]
                vectors = await embedder.embed(texts)
                misses: list[str] | None = [] if label == "configured" else None
                score = evaluate(retriever, questions, vectors, misses)
                lines.append(f"{course:<8} {split:<8} {label:<26} {score.row()}")
                if misses:
                    missed += [f"{course} {split}:", *misses]
            retriever.options = base
        await knowledge.aclose()
    print(f"Embedder: {embedder.name}; k={K}; configured: {options_shown}")
    print(header)
    print("\n".join(lines))
    if args.misses:
        print("\nNot first, or off-topic answered (configured):")
        print("\n".join(missed))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", nargs="+", default=list(COURSES), choices=COURSES)
    parser.add_argument("--split", default="all", choices=["tune", "holdout", "all"])
    parser.add_argument("--variants", action="store_true", help="compare option changes too")
    parser.add_argument("--wordllama", action="store_true", help="compare WordLlama rankings")
    parser.add_argument("--misses", action="store_true", help="list the questions not first")
    parser.add_argument("--typos", action="store_true", help="one typo per question, too")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    asyncio.run(main(parser.parse_args()))
