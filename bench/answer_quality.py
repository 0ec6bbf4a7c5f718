"""What a learner reads, on the embedded model alone: per course, the share of answers
that state the question's key fact, stay under 1,500 characters and don't loop.

Every question of ``eval/courses/<course>.jsonl`` goes through the whole pipeline in
process, as ``tutor ask`` sends it (``BotApp`` -> ``Tutor.handle``, a fresh learner each,
a sink that times the first visible text), on the shipped config with
``DEFAULT_MODEL=embedded``, no API key and no network: the cloud model in the tier's chain
is unavailable, as on a zero-setup install. Courses: the sample course and two built from
documentation that ships with Python (``bench/_courses.py``), ingested into ``--data``
(re-used between runs).

Printed per course: answers that state the key fact; under 1,500 characters; not looping
(``bot.core.repetition``); all three ("good"); apologies while the course had material
for the question (a search found passages); answers carrying a notice; time to first
visible text (first streamed piece, else the whole reply) median and p90. Every answer
goes to ``bench/out/answer_quality-<course>.jsonl``; ``--show`` prints the misses.

    python bench/answer_quality.py [--courses sample pyref stdlib] [--split holdout]
        [--limit 10] [--kind navigation|content] [--plain] [--show]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import time
from collections import Counter
from pathlib import Path

from _common import ROOT, machine, p95
from _eval import DEFAULT_DATA, open_course
from _questions import COURSES, Question, load_questions, states

from bot.app import BotApp
from bot.core.repetition import detect_loop
from bot.events import IncomingMessage
from knowledge.embeddings import SentenceTransformerEmbedder

MAX_CHARS = 1500
OUT = ROOT / "bench" / "out"


class FirstText:
    """A reply sink that notes when the learner first sees text."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.resets = 0

    async def delta(self, text: str) -> None:
        if self.first is None and text.strip():
            self.first = time.perf_counter()

    async def reset(self, notice: str) -> None:
        self.resets += 1


async def ask(app: BotApp, q: Question, tier: str | None) -> dict:
    retriever = app.knowledge.retriever if app.knowledge else None
    found = bool(await retriever.search(q.question)) if retriever else False
    sink = FirstText()
    msg = IncomingMessage(
        text=q.question, user=f"learner-{q.id}", channel="bench", platform="cli", tier=tier
    )
    start = time.perf_counter()
    reply = await app.tutor.handle(msg, sink)
    end = time.perf_counter()
    text = reply.text
    said = text.removesuffix(reply.notice or "").strip()  # the answer, not the notice
    apology = reply.outcome == "failed"
    key = states(said, q.key) and not apology
    loop = detect_loop(text)
    return {
        "id": q.id,
        "kind": q.kind,
        "split": q.split,
        "question": q.question,
        "answer": text,
        "key": key,
        "short": len(text) <= MAX_CHARS,
        "loop": loop,
        "good": key and len(text) <= MAX_CHARS and loop is None,
        "apology": apology,
        "material": found,
        "notice": reply.notice,
        "model": reply.model,
        "route": reply.route,
        "reasons": list(reply.reason_texts),
        "citations": [c.source for c in reply.citations],
        "first_text_ms": ((sink.first or end) - start) * 1000,
        "latency_ms": (end - start) * 1000,
        "chars": len(text),
    }


async def run_course(
    course: str, args: argparse.Namespace, embedder: SentenceTransformerEmbedder
) -> list[dict]:
    env = {"DEFAULT_MODEL": args.default_model}
    settings, knowledge = await open_course(
        course, args.data, embedder, env, front_matter=not args.plain, config=args.config
    )
    await knowledge.aclose()
    questions = load_questions(course, args.split)
    if args.kind:
        questions = [q for q in questions if q.kind == args.kind]
    questions = questions[: args.limit] if args.limit else questions
    rows = []
    async with BotApp(settings, embedder=embedder) as app:
        await app.warm(args.tier)
        for q in questions:
            rows.append(await ask(app, q, args.tier))
    path = OUT / f"answer_quality-{course}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return rows


def summary(name: str, rows: list[dict]) -> str:
    n = len(rows)
    if not n:
        return f"{name:<10} {0:>4}"
    first = [r["first_text_ms"] / 1000 for r in rows]

    def share(key: str) -> str:
        return f"{sum(bool(r[key]) for r in rows) / n:>6.2f}"

    not_looping = sum(r["loop"] is None for r in rows) / n
    apologies = sum(r["apology"] and r["material"] for r in rows)
    notices = sum(r["notice"] is not None for r in rows)
    return (
        f"{name:<10} {n:>4} {share('key')} {share('short')} {not_looping:>6.2f} "
        f"{share('good')} {apologies:>5} {notices:>7} "
        f"{statistics.median(first):>7.1f} {p95(first) if n > 1 else first[0]:>6.1f}"
    )


def report(results: dict[str, list[dict]]) -> None:
    print(
        f"\n{'course':<10} {'n':>4} {'key':>6} {'<1500':>6} {'noloop':>6} {'good':>6} "
        f"{'apol.':>5} {'notices':>7} {'first s':>7} {'p95 s':>6}"
    )
    for course, rows in results.items():
        print(summary(course, rows))
        for kind, label in (("navigation", "  nav"), ("content", "  content")):
            print(summary(label, [r for r in rows if r["kind"] == kind]))
    everything = [r for rows in results.values() for r in rows]
    models = Counter(r["model"] for r in everything)
    print(f"\nAnswered by: {dict(models)}")
    print(
        "key: states the key fact; good: key fact, under 1,500 chars and no loop;\n"
        "apol.: apologies although a search found course material; first s: seconds to the\n"
        "first visible text (median), p95 s: its 95th percentile."
    )


def show_misses(results: dict[str, list[dict]]) -> None:
    for course, rows in results.items():
        for r in rows:
            if r["good"]:
                continue
            flags = [f for f in ("loop", "apology") if r[f]] + ([] if r["short"] else ["long"])
            print(f"\n[{course} {r['id']}] {r['question']!r} {' '.join(map(str, flags))}")
            print("  " + r["answer"][:400].replace("\n", "\n  "))


async def main(args: argparse.Namespace) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=OUT / "answer_quality.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    print(f"Machine: {machine()}")
    print(
        f"Pipeline: {args.config.name}, DEFAULT_MODEL={args.default_model}, no API key; "
        f"split={args.split or 'all'}"
    )
    embedder = SentenceTransformerEmbedder()
    results: dict[str, list[dict]] = {}
    for course in args.courses:
        started = time.perf_counter()
        results[course] = await run_course(course, args, embedder)
        print(
            f"{course}: {len(results[course])} questions in {time.perf_counter() - started:.0f} s"
        )
    report(results)
    if args.show:
        show_misses(results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", nargs="+", default=list(COURSES), choices=COURSES)
    parser.add_argument("--split", default="all", choices=["tune", "holdout", "all"])
    parser.add_argument("--kind", choices=["navigation", "content"])
    parser.add_argument("--limit", type=int, default=0, help="questions per course (0: all)")
    parser.add_argument("--tier", default=None, help="the learner's tier (default: config's)")
    parser.add_argument("--default-model", default="embedded", help="DEFAULT_MODEL")
    parser.add_argument("--config", type=Path, default=ROOT / "config.toml")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--show", action="store_true", help="print the answers that miss")
    parser.add_argument(
        "--plain",
        action="store_true",
        help="the generated courses without front matter or numbered files (no structure)",
    )
    parsed = parser.parse_args()
    if parsed.split == "all":
        parsed.split = None
    asyncio.run(main(parsed))
