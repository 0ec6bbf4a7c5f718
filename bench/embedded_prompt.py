"""How long the embedded model takes to its first token, by how much course material the
prompt holds: the numbers that size its context budget.

For each amount of material (characters of real course text, cut from the generated
``pyref`` course), times the first streamed token through ``bot.models.embedded`` in two
layouts:

  prefix  the system message is the same every time and was seen before; material and
          question come after it, in the user turn, so only they are processed
  cold    nothing of the prompt is in llama.cpp's cache (the system message changes too),
          as when the material sits in the system message ahead of everything

Different material every call, so it is never served from the cache itself. Sizes run in
a rotating order within each round, and rounds alternate between thread counts, so a
neighbour's load spreads over all of them; the load average is printed beside each
figure. Prints the median of ``--runs`` per size, a least-squares fit (seconds per prompt
token processed) and the material that fits a first token under ``--target``.

    python bench/embedded_prompt.py [--runs 5] [--threads 2 1] [--target 2.0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections import defaultdict

from _common import ROOT, machine
from _courses import build

from bot.config import load_config
from bot.core.prompt import REFERENCE_RULES
from bot.events import ChatMessage
from bot.models.embedded import EmbeddedChatModel
from bot.ports import GenerationParams, TextDelta

QUESTION = "Can you explain this part of the course in simple words?"
LAYOUTS = ("prefix", "cold")


def material_texts() -> list[str]:
    """Plain course prose, in 4,000-character pieces that never repeat."""
    folder = build("pyref", ROOT / "bench" / "out" / "eval" / "courses" / "pyref")
    text = " ".join(
        " ".join(p.read_text(encoding="utf-8").split("---", 2)[2].split())
        for p in sorted(folder.glob("*.md"))
    )
    return [text[i : i + 4000] for i in range(0, len(text) - 4000, 4000)]


def prompt(system: str, material: str, layout: str, n: int) -> list[ChatMessage]:
    head = f"{system.strip()}\n\n{REFERENCE_RULES}"
    if layout == "cold":
        head = f"(Session {n}.) {head}"  # a changed first line: nothing is cached
    user = f"<course-material>\n{material}\n</course-material>\n\nQuestion: {QUESTION}"
    return [ChatMessage("system", head), ChatMessage("user", user if material else QUESTION)]


async def first_token(model: EmbeddedChatModel, messages: list[ChatMessage]) -> tuple[float, int]:
    start = time.perf_counter()
    first = None
    tokens = 0
    async for event in model.stream(messages, GenerationParams(max_tokens=2, temperature=0)):
        if isinstance(event, TextDelta):
            first = first or time.perf_counter()
        else:
            tokens = event.input_tokens
    return (first or time.perf_counter()) - start, tokens


async def main(args: argparse.Namespace) -> None:
    settings = load_config(ROOT / "config.toml", {"TUTOR_DATA_DIR": "/tmp/tutor-bench"})
    base = settings.models["embedded"]
    if args.logprobs is not None:
        base = base.model_copy(update={"logprobs": args.logprobs})
    models = {}
    for threads in args.threads:
        models[threads] = EmbeddedChatModel(
            "embedded", base.model_copy(update={"threads": threads})
        )
        await models[threads].warm()
    system = settings.tutor.system_prompt
    pieces = iter(material_texts())
    print(f"Machine: {machine()}; model {base.model}, logprobs {base.logprobs}")
    # (threads, layout, size) -> [(tokens, seconds, load)]
    seen: dict[tuple[int, str, int], list[tuple[int, float, float]]] = defaultdict(list)
    calls = 0
    for run in range(args.runs):
        for threads, model in models.items():
            for layout in LAYOUTS:
                if layout == "prefix":  # put the stable prefix back in the cache
                    await first_token(model, prompt(system, "", "prefix", 0))
                shift = run % len(args.sizes)
                for size in args.sizes[shift:] + args.sizes[:shift]:
                    calls += 1
                    material = next(pieces)[:size] if size else ""
                    seconds, tokens = await first_token(
                        model, prompt(system, material, layout, calls)
                    )
                    seen[threads, layout, size].append((tokens, seconds, os.getloadavg()[0]))
    for model in models.values():
        await model.aclose()
    report(seen, args)


def report(seen: dict[tuple[int, str, int], list[tuple[int, float, float]]], args) -> None:
    print(f"\n{'threads':>7} {'layout':>7} {'chars':>6} {'tokens':>7} {'ttft s':>7} {'load':>9}")
    for (threads, layout, size), rows in sorted(seen.items()):
        tokens = statistics.median(t for t, _, _ in rows)
        seconds = statistics.median(s for _, s, _ in rows)
        loads = [load for _, _, load in rows]
        print(
            f"{threads:>7} {layout:>7} {size:>6} {tokens:>7.0f} {seconds:>7.2f} "
            f"{min(loads):>4.1f}-{max(loads):<4.1f}"
        )
    print()
    for threads in args.threads:
        for layout in LAYOUTS:
            # With the prefix cached, only the tokens after it are processed.
            cached = min(t for t, _, _ in seen[threads, "prefix", min(args.sizes)])
            skip = cached if layout == "prefix" else 0
            points = [
                (t - skip, s)
                for (th, lay, _), rows in seen.items()
                if (th, lay) == (threads, layout)
                for t, s, _ in rows
            ]
            slope, intercept = fit(points)
            rate = 1 / slope if slope > 0 else float("inf")
            print(
                f"threads {threads}, {layout:>6}: ttft = {intercept:.2f} s + "
                f"{slope * 1000:.2f} ms per processed token (about {rate:.0f} tokens/s)"
            )
        prefix = {
            size: statistics.median(s for _, s, _ in seen[threads, "prefix", size])
            for size in args.sizes
        }
        fitting = [size for size, seconds in prefix.items() if seconds <= args.target]
        print(
            f"threads {threads}: with the prefix cached, the largest measured material with a "
            f"median first token under {args.target:.1f} s: {max(fitting, default=0)} chars\n"
        )


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares: seconds = intercept + slope * tokens."""
    xs = [float(x) for x, _ in points]
    ys = [y for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0
    return slope, my - slope * mx


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[0, 300, 600, 900, 1200, 1800, 2700]
    )
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--target", type=float, default=2.0, help="first-token goal, seconds")
    parser.add_argument(
        "--logprobs",
        type=lambda v: v.lower() in {"1", "true", "yes", "on"},
        default=None,
        help="override [models.embedded] logprobs (true/false)",
    )
    asyncio.run(main(parser.parse_args()))
