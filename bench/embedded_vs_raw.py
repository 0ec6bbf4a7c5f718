"""The embedded model through Tutor against raw llama-cpp-python, same prompt, one run.

Reports time to first token and tokens/s for:
  raw      llama-cpp-python create_chat_completion(stream=True), default settings
  raw+lp   the same with logits_all=True (what per-token logprobs need)
  tutor    Tutor.handle on the embedded provider (logprobs on, as shipped)
  tutor-lp the same with [models.embedded] logprobs = false
Runs alternate so machine noise hits all three alike. Goal: tutor within 10% of raw.

    python bench/embedded_vs_raw.py [--runs 8] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from _common import ROOT, machine, median

from bot.config import load_config
from bot.core.prompt import build_prompt
from bot.core.tutor import Tutor
from bot.events import IncomingMessage
from bot.models.embedded import bundled_model_path
from bot.models.registry import ModelRegistry

QUESTION = "What is the difference between a list and a tuple in Python?"


class _TimingSink:
    def __init__(self) -> None:
        self.times: list[float] = []

    async def delta(self, text: str) -> None:
        self.times.append(time.perf_counter())

    async def reset(self, notice: str) -> None:
        self.times.clear()


async def _through(tutor: Tutor, msg: IncomingMessage) -> tuple[float, float]:
    """Time to first token and tokens/s as the learner sees them (from the sink)."""
    sink = _TimingSink()
    start = time.perf_counter()
    reply = await tutor.handle(msg, sink)
    assert reply.model == "embedded", reply.reasons
    tokens_per_s = reply.usage.output_tokens / (sink.times[-1] - sink.times[0])
    return (sink.times[0] - start) * 1000, tokens_per_s


def raw_run(llm, messages, max_tokens: int) -> tuple[float, float]:
    start = time.perf_counter()
    first = last = 0.0
    tokens = 0
    for chunk in llm.create_chat_completion(
        messages=messages, stream=True, max_tokens=max_tokens, temperature=0.2
    ):
        if chunk["choices"][0]["delta"].get("content"):
            tokens += 1
            last = time.perf_counter()
            first = first or last
    return (first - start) * 1000, tokens / (last - first)


async def main(runs: int, max_tokens: int) -> None:
    from llama_cpp import Llama

    env = {"DEFAULT_MODEL": "embedded", "TUTOR_DATA_DIR": "/tmp/tutor-bench"}
    settings = load_config(ROOT / "config.toml", env)
    config = settings.models["embedded"].model_copy(update={"max_tokens": max_tokens})
    settings = settings.model_copy(update={"models": settings.models | {"embedded": config}})
    registry = ModelRegistry(settings)
    tutor = Tutor(settings, registry)
    await registry.get("embedded").warm()
    no_lp = config.model_copy(update={"logprobs": False})
    plain_settings = settings.model_copy(update={"models": settings.models | {"embedded": no_lp}})
    plain_registry = ModelRegistry(plain_settings)
    plain_tutor = Tutor(plain_settings, plain_registry)
    await plain_registry.get("embedded").warm()

    prompt = build_prompt(settings.tutor.system_prompt, [], QUESTION)
    messages = [{"role": m.role, "content": m.content} for m in prompt]
    path = str(bundled_model_path("smollm2-135m"))
    threads = os.cpu_count() or 1
    raw = Llama(model_path=path, n_ctx=config.n_ctx, n_threads=threads, verbose=False)
    raw_lp = Llama(
        model_path=path, n_ctx=config.n_ctx, n_threads=threads, logits_all=True, verbose=False
    )

    results: dict[str, list[tuple[float, float]]] = {
        "raw": [],
        "raw+lp": [],
        "tutor": [],
        "tutor-lp": [],
    }
    for i in range(runs + 1):
        r1 = raw_run(raw, messages, max_tokens)
        r2 = raw_run(raw_lp, messages, max_tokens)
        # A new conversation each time, so the prompt is the same as raw's; local-only,
        # so the answer streams (it is held back while the cloud could still take over).
        msg = IncomingMessage(text=QUESTION, user=f"bench{i}", channel="bench", local_only=True)
        r3 = await _through(tutor, msg)
        r4 = await _through(plain_tutor, msg)
        if i:  # the first round warms caches
            results["raw"].append(r1)
            results["raw+lp"].append(r2)
            results["tutor"].append(r3)
            results["tutor-lp"].append(r4)

    print(
        f"machine: {machine()}; {runs} runs, max_tokens={max_tokens}, prompt {len(QUESTION)} chars"
    )
    base_ttft = median([r[0] for r in results["raw"]])
    base_tps = median([r[1] for r in results["raw"]])
    for name, rows in results.items():
        ttft = median([r[0] for r in rows])
        tps = median([r[1] for r in rows])
        print(
            f"{name:7s} ttft median {ttft:7.1f} ms ({ttft / base_ttft:5.2f}x raw)   "
            f"tokens/s median {tps:6.1f} ({tps / base_tps:5.2f}x raw)"
        )
    await registry.aclose()
    await plain_registry.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.max_tokens))
