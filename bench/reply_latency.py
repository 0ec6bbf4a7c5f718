"""The latency recording adds to a reply: Tutor.handle with an instant model, with and
without the ledger (and, with it, the SQLite preference store as BotApp wires it).

Calls alternate between the two tutors so both see the same machine noise; the figure
is the median with the ledger minus the median without.

    python bench/reply_latency.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Settings, load_config
from bot.core.tutor import Tutor
from bot.events import IncomingMessage
from bot.ledger.store import Ledger
from bot.models.registry import ModelRegistry
from tests.conftest import TEST_CONFIG, write_config
from tests.fakes import FakeChatModel, Script

GOAL_MS = 0.5


def tutor(settings: Settings, ledger: Ledger | None) -> Tutor:
    models = {
        "local": FakeChatModel("local", Script("A list keeps items in order.")),
        "tiny": FakeChatModel("tiny"),
        "cloud": FakeChatModel("cloud", is_local=False),
    }
    registry = ModelRegistry(settings, models=models)
    if ledger is None:
        return Tutor(settings, registry)
    return Tutor(settings, registry, ledger=ledger, preferences=ledger.preferences)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 calls each instead of 5,000")
    args = parser.parse_args()
    calls = 1000 if args.quick else 5000
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_config(write_config(Path(tmp), TEST_CONFIG), {})
        async with Ledger(settings, purge_every_s=None) as ledger:
            plain, recorded = tutor(settings, None), tutor(settings, ledger)
            without: list[float] = []
            with_ledger: list[float] = []
            for i in range(calls + 200):  # the first 200 of each warm up
                msg = IncomingMessage(
                    text="What is a list?", user=f"u{i % 300}", channel="c1", platform="discord"
                )
                for bot, times in ((plain, without), (recorded, with_ledger)):
                    t0 = time.perf_counter()
                    await bot.handle(msg)
                    if i >= 200:
                        times.append((time.perf_counter() - t0) * 1000)
            rows = (await ledger.query("SELECT count(*) FROM interactions"))[0][0]
    assert rows == calls + 200, rows
    a, b = statistics.median(without), statistics.median(with_ledger)
    q = statistics.quantiles
    print(f"Tutor.handle, instant model, {calls:,} calls each (alternating):")
    print(f"  without ledger: median {a:.3f} ms, p90 {q(without, n=10)[-1]:.3f} ms")
    print(f"  with ledger:    median {b:.3f} ms, p90 {q(with_ledger, n=10)[-1]:.3f} ms")
    print(f"median added latency from recording: {b - a:.3f} ms (goal <= {GOAL_MS} ms)")


if __name__ == "__main__":
    asyncio.run(main())
