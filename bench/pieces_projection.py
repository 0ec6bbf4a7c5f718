"""A projection of answer quality once the tutor uses navigation, small prompts, the loop
guard and the course quote, composed here the way the tutor is to compose them.

Until the tutor does, this shows what the pieces give together; afterwards
``answer_quality.py`` measures the real pipeline and this script can go. Per question:

1. ``CourseRetriever.navigate``: a navigation question is answered from the structure.
2. Otherwise the best passage, trimmed to ``--budget`` characters around the question
   (``fit_passages``), goes after a stable system message (llama.cpp keeps that prefix
   cached) to the embedded model with the configured sampling, streamed through
   ``LoopGuard``, which stops a loop.
3. The answer is kept when it did not loop, the confidence gate (``bot.core.confidence``)
   passes it and it is grounded: at least ``--grounding`` of its content words are in the
   material it was given. Otherwise, when the course had material, the learner gets
   ``course_quote``; ``--strategy model`` or ``quote`` forces one side, for comparison.

Prints the same columns as ``answer_quality.py`` plus how often each path answered.

    python bench/pieces_projection.py [--split holdout] [--strategy gated|model|quote]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from pathlib import Path

from _common import ROOT, machine
from _eval import DEFAULT_DATA, open_course
from _questions import COURSES, load_questions, states
from answer_quality import MAX_CHARS, OUT, report
from embedded_sampling import small_prompt

from bot.config import load_config
from bot.core.confidence import assess
from bot.core.excerpt import course_quote, fit_passages, terms
from bot.core.repetition import LoopGuard, detect_loop
from bot.models.embedded import EmbeddedChatModel
from bot.ports import Generation, TextDelta
from knowledge.embeddings import SentenceTransformerEmbedder


def grounding(answer: str, material: str) -> float:
    """Share of the answer's content words that the material contains."""
    said = terms(answer)
    return len(said & terms(material)) / len(said) if said else 0.0


async def answer(
    q, retriever, model: EmbeddedChatModel, settings, args: argparse.Namespace
) -> dict:
    navigation = await retriever.navigate(q.question)
    if navigation is not None:
        now = time.perf_counter()
        return {"text": navigation.text, "path": "navigation", "first": now, "end": now}
    passages = await retriever.search(q.question)
    material = fit_passages(q.question, passages, args.budget)
    quote = course_quote(q.question, passages)
    if args.strategy == "quote" and quote:
        now = time.perf_counter()
        return {"text": quote, "path": "quote", "first": now, "end": now}
    prompt = small_prompt(settings.tutor.system_prompt, q.question, material, "user")
    guard = LoopGuard()
    first = None
    final: Generation | None = None
    timeout = settings.models["embedded"].first_token_timeout_s
    events = model.stream(prompt)
    try:
        async with asyncio.timeout(timeout) as timer:
            async for event in events:
                if isinstance(event, TextDelta):
                    if first is None:
                        first = time.perf_counter()
                        timer.reschedule(None)
                    if guard.feed(event.text):
                        break
                else:
                    final = event
    except TimeoutError:
        pass
    finally:
        await events.aclose()
    end = time.perf_counter()
    text = guard.kept if guard.looping else (final.text if final else "")
    policy = settings.policy(settings.routing.default_tier)
    confident = False
    if final is not None and not guard.looping:
        score = assess(
            final, q.question, policy, retrieval_used=True, found_material=bool(passages)
        )
        grounded = grounding(final.text, " ".join(p.text for p in material))
        confident = score.score >= policy.confidence_threshold and grounded >= args.grounding
    if args.strategy == "model" or confident or not quote:
        path = "model" if text else "apology"
        return {"text": text or "Sorry", "path": path, "first": first or end, "end": end}
    return {"text": quote, "path": "quote", "first": first or end, "end": end}


async def run_course(course: str, args, embedder) -> list[dict]:
    settings, knowledge = await open_course(course, args.data, embedder, {})
    retriever = knowledge.retriever
    assert retriever is not None
    model = EmbeddedChatModel("embedded", settings.models["embedded"])
    await model.warm()
    await model.generate(small_prompt(settings.tutor.system_prompt, "hi", [], "user"))
    questions = load_questions(course, args.split)
    questions = questions[: args.limit] if args.limit else questions
    rows = []
    for q in questions:
        found = bool(await retriever.search(q.question))
        start = time.perf_counter()
        result = await answer(q, retriever, model, settings, args)
        text = result["text"]
        loop = detect_loop(text)
        key = states(text, q.key) and result["path"] != "apology"
        rows.append(
            {
                "id": q.id,
                "kind": q.kind,
                "question": q.question,
                "answer": text,
                "path": result["path"],
                "key": key,
                "short": len(text) <= MAX_CHARS,
                "loop": loop,
                "good": key and len(text) <= MAX_CHARS and loop is None,
                "apology": result["path"] == "apology",
                "material": found,
                "notice": None,
                "model": result["path"],
                # streamed: the first token; held back until the gate decides: the end
                "first_text_ms": (result["first"] - start) * 1000,
                "latency_ms": (result["end"] - start) * 1000,
            }
        )
    await model.aclose()
    await knowledge.aclose()
    path = OUT / f"pieces_projection-{course}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return rows


async def main(args: argparse.Namespace) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    settings = load_config(ROOT / "config.toml", {})
    options = settings.models["embedded"].options
    print(f"Machine: {machine()}")
    print(
        f"Strategy {args.strategy}; material {args.budget} chars; grounding >= "
        f"{args.grounding}; embedded options {options}; split={args.split or 'all'}"
    )
    embedder = SentenceTransformerEmbedder()
    results = {}
    for course in args.courses:
        results[course] = await run_course(course, args, embedder)
    report(results)
    everything = [r for rows in results.values() for r in rows]
    paths = Counter(r["path"] for r in everything)
    whole = sorted(r["latency_ms"] / 1000 for r in everything)
    print(f"Paths: {dict(paths)}")
    print(
        f"Whole answer (what a learner waits for when the answer is held back until the "
        f"gate decides): median {whole[len(whole) // 2]:.1f} s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", nargs="+", default=list(COURSES), choices=COURSES)
    parser.add_argument("--split", default="all", choices=["tune", "holdout", "all"])
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--strategy", default="gated", choices=["gated", "model", "quote"])
    parser.add_argument("--budget", type=int, default=600, help="chars of course material")
    parser.add_argument("--grounding", type=float, default=0.5)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parsed = parser.parse_args()
    if parsed.split == "all":
        parsed.split = None
    asyncio.run(main(parsed))
