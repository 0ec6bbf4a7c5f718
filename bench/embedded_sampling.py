"""Sampling settings of the embedded model, chosen by measurement.

Runs SmolLM2-135M through ``bot.models.embedded`` on course questions with a small
prompt (the best passage, trimmed around the question by ``bot.core.excerpt.trim``) and a
few sampling settings; prints per setting the loop rate (``bot.core.repetition``), the
share of answers stating the key fact, answers over 1,500 characters, answers cut at
``max_tokens``, time to first token and tokens/s. Every answer goes to
``bench/out/embedded_sampling.jsonl``.

Each question's settings run one after another in a rotating order, so the one that pays
for the prompt (the others find it in llama.cpp's prefix cache) changes every question.

    python bench/embedded_sampling.py [--courses sample pyref stdlib] [--split tune]
        [--limit 8] [--offset 0] [--variants NAME ...] [--budget 600] [--layout user|system]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

from _common import ROOT, machine
from _eval import DEFAULT_DATA, open_course
from _questions import load_questions, states

from bot.config import load_config
from bot.core.confidence import repetition_ratio
from bot.core.excerpt import fit_passages
from bot.core.prompt import REFERENCE_RULES, build_prompt
from bot.core.repetition import LoopGuard
from bot.events import ChatMessage
from bot.models.embedded import EmbeddedChatModel
from bot.ports import Generation, Passage, TextDelta
from knowledge.embeddings import SentenceTransformerEmbedder

OUT = ROOT / "bench" / "out" / "embedded_sampling.jsonl"  # --out changes it
VARIANTS: dict[str, dict[str, float]] = {
    "t0.2 (shipped)": {"temperature": 0.2},
    "greedy": {"temperature": 0.0},
    "t0.2 rp1.1": {"temperature": 0.2, "repeat_penalty": 1.1},
    "t0.2 rp1.2": {"temperature": 0.2, "repeat_penalty": 1.2},
    "t0.3 p0.9 rp1.15": {"temperature": 0.3, "top_p": 0.9, "repeat_penalty": 1.15},
    "t0.2 rp1.1 fp0.3": {"temperature": 0.2, "repeat_penalty": 1.1, "frequency_penalty": 0.3},
    "t0.2 p0.9 rp1.15": {"temperature": 0.2, "top_p": 0.9, "repeat_penalty": 1.15},
    "greedy rp1.15": {"temperature": 0.0, "repeat_penalty": 1.15},
}
ROUND_ONE = list(VARIANTS)[:6]


def small_prompt(
    system: str, question: str, passages: list[Passage], layout: str
) -> list[ChatMessage]:
    """The course material either in the system message (today's layout) or in the user
    turn, after a system message that never changes (llama.cpp reuses it from its cache)."""
    if layout == "system":
        return build_prompt(system, [], question, passages)
    material = "\n\n".join(
        f"[{i}] {p.title} ({p.source})\n{p.text.strip()}" for i, p in enumerate(passages, 1)
    )
    head = f"{system.strip()}\n\n{REFERENCE_RULES}"
    if not material:
        return [ChatMessage("system", head), ChatMessage("user", question)]
    user = f"<course-material>\n{material}\n</course-material>\n\nQuestion: {question}"
    return [ChatMessage("system", head), ChatMessage("user", user)]


async def run_one(model: EmbeddedChatModel, prompt: list[ChatMessage]) -> dict:
    guard = LoopGuard()
    stopped_at: int | None = None
    start = time.perf_counter()
    first: float | None = None
    final: Generation | None = None
    async for event in model.stream(prompt):
        if isinstance(event, TextDelta):
            first = first or time.perf_counter()
            if guard.feed(event.text) and stopped_at is None:
                stopped_at = len(guard.text)
        else:
            final = event
    assert final is not None
    guard.finish()
    end = time.perf_counter()
    gen_s = end - (first or end)
    return {
        "text": final.text,
        "ttft_ms": (first - start) * 1000 if first else None,
        "tokens_per_s": final.output_tokens / gen_s if gen_s > 0 else None,
        "prompt_tokens": final.input_tokens,
        "output_tokens": final.output_tokens,
        "finish": final.finish_reason,
        "loop": guard.reason,
        "loop_at_char": stopped_at,
        "repetition_ratio": round(repetition_ratio(final.text), 3),
    }


async def main(args: argparse.Namespace) -> None:
    embedder = SentenceTransformerEmbedder()
    settings = load_config(ROOT / "config.toml", {"TUTOR_DATA_DIR": str(args.data)})
    config = settings.models["embedded"]
    if args.threads is not None:
        config = config.model_copy(update={"threads": args.threads})
    model = EmbeddedChatModel("embedded", config)
    await model.warm()
    system = settings.tutor.system_prompt
    rows: list[dict] = []
    print(
        f"Machine: {machine()}; model {config.model}, max_tokens {config.max_tokens}, "
        f"threads {config.threads or 'all'}"
    )
    print(f"Prompt: best passage trimmed to {args.budget} chars, layout {args.layout}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for course in args.courses:
            _, knowledge = await open_course(course, args.data, embedder)
            retriever = knowledge.retriever
            assert retriever is not None
            questions = [q for q in load_questions(course, args.split) if q.kind == "content"]
            chosen = questions[args.offset : args.offset + args.limit]
            for n, q in enumerate(chosen):
                passages = await retriever.search(q.question)
                material = fit_passages(q.question, passages, args.budget)
                prompt = small_prompt(system, q.question, material, args.layout)
                names = args.variants
                shift = n % len(names)
                for name in names[shift:] + names[:shift]:
                    model.config = config.model_copy(update={"options": VARIANTS[name]})
                    result = await run_one(model, prompt)
                    result |= {
                        "course": course,
                        "id": q.id,
                        "question": q.question,
                        "variant": name,
                        "first": name == names[shift],
                        "key": states(result["text"], q.key),
                        "material_chars": sum(len(p.text) for p in material),
                    }
                    rows.append(result)
                    out.write(json.dumps(result, ensure_ascii=False) + "\n")
                    out.flush()
            await knowledge.aclose()
    await model.aclose()
    report(rows)


def report(rows: list[dict]) -> None:
    header = (
        f"{'setting':<20} {'n':>4} {'loop':>6} {'key':>6} {'>1500':>6} {'cut':>6} "
        f"{'ttft1 ms':>9} {'tok/s':>6} {'out tok':>8}"
    )
    print(header)
    for name in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == name]
        if not mine:
            continue
        n = len(mine)
        first = [r["ttft_ms"] for r in mine if r["first"] and r["ttft_ms"] is not None]
        speed = [r["tokens_per_s"] for r in mine if r["tokens_per_s"]]
        print(
            f"{name:<20} {n:>4} {sum(bool(r['loop']) for r in mine) / n:>6.2f} "
            f"{sum(r['key'] for r in mine) / n:>6.2f} "
            f"{sum(len(r['text']) > 1500 for r in mine) / n:>6.2f} "
            f"{sum(r['finish'] == 'length' for r in mine) / n:>6.2f} "
            f"{statistics.median(first) if first else float('nan'):>9.0f} "
            f"{statistics.median(speed) if speed else float('nan'):>6.1f} "
            f"{statistics.median(r['output_tokens'] for r in mine):>8.0f}"
        )
    print(
        "\nloop: the loop guard fired; key: states the key fact; cut: stopped at max_tokens;"
        "\nttft1: time to first token when the setting paid for the prompt (median)."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", nargs="+", default=["sample", "pyref", "stdlib"])
    parser.add_argument("--split", default="tune", choices=["tune", "holdout", "all"])
    parser.add_argument("--limit", type=int, default=8, help="questions per course")
    parser.add_argument("--offset", type=int, default=0, help="skip this many questions")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=ROUND_ONE,
        choices=list(VARIANTS),
        metavar="NAME",
        help=f"settings to compare, of: {', '.join(VARIANTS)}",
    )
    parser.add_argument("--budget", type=int, default=600, help="chars of course material")
    parser.add_argument("--layout", default="user", choices=["user", "system"])
    parser.add_argument("--threads", type=int, help="override [models.embedded] threads")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=OUT, help="where every answer goes")
    parsed = parser.parse_args()
    if parsed.split == "all":
        parsed.split = None
    asyncio.run(main(parsed))
