"""What a learner reads on the zero-setup default: per course, the share of answers that
state the question's key fact, stay under 1,500 characters and don't loop.

Every question of ``eval/courses/<course>.jsonl`` goes through the whole pipeline in
process, as ``tutor ask`` sends it (``BotApp`` -> ``Tutor.handle``, a fresh learner each,
a sink that times the first visible text), on the shipped config with
``DEFAULT_MODEL=embedded``, no API key and no network: the cloud model in the tier's chain
is unavailable, as on a zero-setup install. ``--pipeline`` picks what answers:

- ``shipped`` (default): as shipped: course navigation, then the course quote wherever
  the course has one (the embedded model is ``quote_first``), else the embedded model;
- ``model-first``: the embedded model answers first and the course quote replaces an
  answer that fails the gate (``quote_first = false``);
- ``model-only``: the embedded model alone (no navigation, no course quote);
- ``quote``: navigation and the course quote with no model call (what ``shipped`` shows
  whenever the model's answer fails the gate): seconds instead of minutes, for tuning
  what is quoted;
- ``ollama`` / ``openai``: the loopback Ollama or OpenAI server as the default model, which
  answers with the two sentences of the course material it was sent that best match the
  question: what the prompt carried to the model, through the real client and stream.

Courses: the sample course and two built from
documentation that ships with Python (``bench/_courses.py``), ingested into ``--data``
(re-used between runs).

Printed per course: answers that state the key fact; under 1,500 characters; not looping
(``bot.core.repetition``); all three ("good"); apologies while the course had material
for the question (a search found passages); answers carrying a notice; time to first
visible text (first streamed piece, else the whole reply) median and p90. Every answer
goes to ``bench/out/answer_quality-<course>.jsonl``; ``--show`` prints the misses.
``--right-lesson-first`` moves each question's own lesson first whenever the search found
it: the answers a perfect ranking of the same search results would give.

    python bench/answer_quality.py [--courses sample pyref stdlib] [--split holdout]
        [--limit 10] [--kind navigation|content] [--plain] [--show]
        [--pipeline shipped|model-first|model-only|quote|ollama|openai] [--typos]
        [--right-lesson-first]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from _common import ROOT, machine, p95
from _eval import DEFAULT_DATA, open_course
from _questions import COURSES, Question, load_questions, states, with_typo

import bot.core.tutor as tutor_module
from bot.app import BotApp
from bot.config import Settings
from bot.core.prompt import QUESTION_LABEL
from bot.core.repetition import detect_loop
from bot.events import IncomingMessage
from bot.ports import Passage
from knowledge.embeddings import SentenceTransformerEmbedder
from tests.loopback.ollama_server import OllamaServer
from tests.loopback.openai_server import OpenAIServer

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


PIPELINES = ("shipped", "model-first", "model-only", "quote", "ollama", "openai")
LOOPBACK_KEY = "sk-loopback-answer-quality"
WORD = re.compile(r"[a-z0-9_]+")
SOURCE_LINE = re.compile(r"^\[\d+\] .*\(.*\)$")  # "[1] Title (source)" above each passage
STOPWORDS = frozenset(
    (
        *("a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from"),
        *("how", "i", "in", "is", "it", "my", "of", "on", "or", "the", "this", "to", "what"),
        *("when", "where", "which", "why", "with", "you", "your"),
    )
)
SENT: list[str] = []  # the course material of each loopback request, in order


def material_answer(messages: list[dict[str, Any]]) -> str:
    """The loopback model's answer: the three sentences of the course material in the last
    turn that share most words with the question (what a faithful model could say)."""
    turn = messages[-1]["content"]
    material, _, question = turn.rpartition(QUESTION_LABEL)
    SENT.append(material)
    asked = set(WORD.findall(question.lower())) - STOPWORDS
    lines = [line for line in material.splitlines() if not SOURCE_LINE.match(line)]
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", "\n".join(lines))]
    sentences = [s for s in sentences if len(s) > 20 and not s.startswith("<")]
    ranked = sorted(sentences, key=lambda s: -len(asked & set(WORD.findall(s.lower()))))
    return " ".join(ranked[:3]) or "The course does not say."


class SearchOnly:
    """The retriever without course navigation, for ``--pipeline model-only``."""

    def __init__(self, retriever: Any) -> None:
        self._retriever = retriever

    async def search(self, question: str) -> list[Passage]:
        return await self._retriever.search(question)


class RightLessonFirst:
    """The retriever with the question's own lesson moved first whenever the search found
    it (``--right-lesson-first``): how much better answers would be with a perfect ranking
    of what the search already finds."""

    def __init__(self, retriever: Any, lessons: dict[str, str]) -> None:
        self._retriever = retriever
        self._lessons = lessons  # question -> its lesson

    def __getattr__(self, name: str) -> Any:
        return getattr(self._retriever, name)

    async def search(self, question: str, k: int | None = None) -> list[Passage]:
        passages = await self._retriever.search(question, k)
        wanted = self._lessons.get(question)
        return sorted(passages, key=lambda p: p.source != wanted) if wanted else passages


def no_quote(*args: Any, **kwargs: Any) -> None:
    return None


def model_first(settings: Settings) -> Settings:
    """``settings`` with every model asked before the course quote."""
    models = {
        name: model.model_copy(update={"quote_first": False})
        for name, model in settings.models.items()
    }
    return settings.model_copy(update={"models": models})


async def no_answer(*args: Any, **kwargs: Any) -> tuple[None, list[Any]]:
    return None, []


@contextlib.asynccontextmanager
async def loopback(pipeline: str) -> AsyncIterator[tuple[dict[str, str], str | None]]:
    """The environment that makes ``pipeline``'s model the default; the OpenAI base URL."""
    if pipeline == "ollama":
        async with OllamaServer() as server:
            server.behaviour.answer = material_answer
            server.behaviour.models = {"llama3.2:3b"}
            yield {"DEFAULT_MODEL": "ollama", "OLLAMA_HOST": server.url}, None
    elif pipeline == "openai":
        async with OpenAIServer() as server:
            server.behaviour.answer = material_answer
            env = {"DEFAULT_MODEL": "gpt-4o-mini", "OPENAI_API_KEY": LOOPBACK_KEY}
            yield env, server.base_url
    else:
        yield {}, None


def with_openai_url(settings: Settings, url: str) -> Settings:
    models = {
        name: m.model_copy(update={"base_url": url}) if m.provider == "openai" else m
        for name, m in settings.models.items()
    }
    return settings.model_copy(update={"models": models})


async def ask(app: BotApp, q: Question, tier: str | None) -> dict:
    retriever = app.knowledge.retriever if app.knowledge else None
    found = bool(await retriever.search(q.question)) if retriever else False
    sink = FirstText()
    SENT.clear()
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
        # loopback pipelines: the key fact was in the course material the model was sent
        "in_prompt": any(states(m, q.key) for m in SENT) if SENT else None,
    }


async def run_course(
    course: str, args: argparse.Namespace, embedder: SentenceTransformerEmbedder
) -> list[dict]:
    questions = load_questions(course, args.split)
    if args.kind:
        questions = [q for q in questions if q.kind == args.kind]
    questions = questions[: args.limit] if args.limit else questions
    if args.typos:  # one seeded typo per question, as learners type
        rng = random.Random(7)
        questions = [replace(q, question=with_typo(q.question, rng)) for q in questions]
    rows = []
    async with loopback(args.pipeline) as (env, openai_url):
        env = {"DEFAULT_MODEL": args.default_model} | env
        settings, knowledge = await open_course(
            course, args.data, embedder, env, front_matter=not args.plain, config=args.config
        )
        await knowledge.aclose()
        if openai_url:
            settings = with_openai_url(settings, openai_url)
        # Each answer is the pipeline's own: none comes from course memory, which would
        # otherwise remember earlier runs' cloud answers (bench/semester.py measures it).
        memory = settings.memory.model_copy(update={"enabled": False})
        settings = settings.model_copy(update={"memory": memory})
        if args.pipeline in ("model-first", "model-only"):
            settings = model_first(settings)
        async with BotApp(settings, embedder=embedder) as app:
            if args.pipeline == "model-only":  # a bench-only switch: no config turns these off
                app.tutor.retriever = SearchOnly(app.tutor.retriever)
                tutor_module.course_quote = no_quote
            elif args.pipeline == "quote":  # no model answers: the course quote does
                app.tutor._answer = no_answer  # type: ignore[method-assign]
            if args.right_lesson_first:
                lessons = {q.question: q.lesson for q in questions if q.lesson}
                app.tutor.retriever = RightLessonFirst(app.tutor.retriever, lessons)
            # The enterprise tier is cloud-first: the OpenAI server answers, not the embedded.
            tier = args.tier or ("enterprise" if args.pipeline == "openai" else None)
            await app.warm(tier)
            for q in questions:
                rows.append(await ask(app, q, tier))
    path = OUT / f"answer_quality-{course}-{args.pipeline}.jsonl"
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
    sent = [r for r in everything if r["in_prompt"] is not None]
    if sent:
        share = sum(r["in_prompt"] for r in sent) / len(sent)
        print(f"Key fact in the course material sent to the model: {share:.2f} of {len(sent)}")
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
    model = {"ollama": "loopback Ollama", "openai": "loopback OpenAI"}
    print(
        f"Pipeline {args.pipeline}: {args.config.name}, "
        f"DEFAULT_MODEL={model.get(args.pipeline, args.default_model)}; "
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
    parser.add_argument("--typos", action="store_true", help="one typo in every question")
    parser.add_argument("--pipeline", default="shipped", choices=PIPELINES)
    parser.add_argument(
        "--right-lesson-first",
        action="store_true",
        help="move each question's own lesson first when the search found it",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="the generated courses without front matter or numbered files (no structure)",
    )
    parsed = parser.parse_args()
    if parsed.split == "all":
        parsed.split = None
    asyncio.run(main(parsed))
