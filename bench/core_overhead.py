"""How much time Tutor.handle adds per message, and 1,000 concurrent conversations.

With a model that answers instantly, the time handle() takes is the core's own cost
(prompt assembly, chain walk, timeouts, history, pricing, recording). Goal: median
at most 2 ms. Then 1,000 conversations at once must all complete, none mixed up.

    python bench/core_overhead.py [--n 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _common import ROOT, machine, median, p95

from bot.config import load_config
from bot.core.tutor import Tutor
from bot.events import IncomingMessage
from bot.models.base import collect
from bot.models.registry import ModelRegistry
from tests.fakes import FakeChatModel, ListLedger


def echo(messages):  # the answer names the question, so mix-ups are visible
    return f"answer to {messages[-1].content}"


async def main(n: int) -> None:
    settings = load_config(ROOT / "config.toml", {"DEFAULT_MODEL": "ollama"})
    model = FakeChatModel("ollama", echo)
    tutor = Tutor(settings, ModelRegistry(settings, models={"ollama": model}), ledger=ListLedger())

    # The model's own time, to subtract: draining its stream directly.
    prompt = [m for m in (await _prompt(tutor))]
    raw = []
    for _ in range(n):
        t = time.perf_counter()
        await collect("ollama", model.stream(prompt))
        raw.append((time.perf_counter() - t) * 1000)

    handled = []
    for i in range(n):
        msg = IncomingMessage(text=f"What is a list? #{i}", user=f"u{i % 50}", channel="c")
        t = time.perf_counter()
        await tutor.handle(msg)
        handled.append((time.perf_counter() - t) * 1000)

    print(f"machine: {machine()}")
    print(f"messages: {n}")
    print(f"model alone      median {median(raw):.3f} ms")
    print(f"Tutor.handle     median {median(handled):.3f} ms   p95 {p95(handled):.3f} ms")
    print(f"core overhead    median {median(handled) - median(raw):.3f} ms   (goal <= 2 ms)")

    conversations = 1000
    msgs = [
        IncomingMessage(text=f"question {i}", user=f"learner{i}", channel=f"ch{i % 7}")
        for i in range(conversations)
    ]
    t = time.perf_counter()
    replies = await asyncio.gather(*(tutor.handle(m) for m in msgs))
    elapsed = time.perf_counter() - t
    correct = sum(r.text == f"answer to question {i}" for i, r in enumerate(replies))
    print(
        f"concurrent conversations: {correct}/{conversations} answered correctly "
        f"in {elapsed:.2f} s ({conversations / elapsed:.0f}/s), "
        f"{conversations - correct} lost or mixed up"
    )


async def _prompt(tutor: Tutor):
    from bot.core.prompt import build_prompt

    return build_prompt(tutor.settings.tutor.system_prompt, [], "What is a list?")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    asyncio.run(main(parser.parse_args().n))
