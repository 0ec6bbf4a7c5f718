"""Start-up time of `tutor run` to ready, with the embedded model, on loopback platforms.

Each run starts a fresh process (`python -m bot.cli.main run`) with Discord and Slack
credentials pointing at loopback servers, and reads its JSON log lines. Printed, as
medians over the runs (min-max in brackets):

- process start -> the ledger open (interpreter, imports, config);
- warming the embedded model (llama.cpp loads the GGUF);
- Slack connected and Discord connected (Discord's includes discord.py waiting
  ``guild_ready_timeout``, 2 s, for servers to stream in);
- ready (every platform up), from the process start;
- SIGTERM -> exit (drain, disconnect, ledger closed).

The course index is part of start-up once the knowledge package is installed; without
it, that step is reported as skipped.

    python bench/startup.py [--runs 5] [--quick]      # --quick: 2 runs
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _common import ROOT, machine

from tests.loopback.discord_server import DiscordServer
from tests.loopback.slack_server import SlackServer
from tests.service_helpers import loopback_env, tutor_run

CONFIG = """
[models.embedded]
provider = "embedded"
model = "smollm2-135m"

[tiers.free]
chain = ["embedded"]
"""
TOKEN = "startup-discord-token"


def at(record: dict) -> float:
    return datetime.fromisoformat(record["ts"]).timestamp()


async def one_run(folder: Path, discord: DiscordServer, slack: SlackServer) -> dict[str, float]:
    config = folder / "config.toml"
    config.write_text(CONFIG)
    env = loopback_env(folder / "data", discord=discord, slack=slack)
    spawned = time.time()
    async with tutor_run(config, env, verbose=1) as bot:
        ready = await bot.ready(within=300)
        records = bot.records()
        stopping = time.time()
        code = await bot.stop(signal.SIGTERM, within=120)
        stopped = time.time()
    if code != 0:
        raise SystemExit(f"tutor run exited with {code}:\n{bot.output()}")

    def first(predicate) -> dict:
        return next(r for r in records if predicate(r))

    opened = first(lambda r: r["message"].startswith("ledger open"))
    warming = first(lambda r: r["message"].startswith("warming"))
    warmed = first(lambda r: r["logger"] == "bot.service.runner" and "course index" in r["message"])
    connected = {r["platform"]: at(r) - spawned for r in records if r.get("event") == "connected"}
    return {
        "imports + config + ledger": at(opened) - spawned,
        "warm the embedded model": at(warmed) - at(warming),
        "slack connected": connected["slack"],
        "discord connected": connected["discord"],
        "ready": at(ready) - spawned,
        "stop (SIGTERM -> exit)": stopped - stopping,
    }


async def index_course(folder: Path) -> str:
    """Index the sample course once, if the knowledge package is there."""
    if not (ROOT / "knowledge" / "__init__.py").is_file():
        return "course index: skipped (the knowledge package is not in this checkout)"
    samples = sorted(p for p in (ROOT / "knowledge").glob("sample*") if p.is_dir())
    if not samples:
        return "course index: skipped (no sample course under knowledge/)"
    started = time.perf_counter()
    env = os.environ | {"TUTOR_DATA_DIR": str(folder / "data"), "HF_HUB_OFFLINE": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli.main", "ingest", str(samples[0]), cwd=ROOT, env=env
    )
    code = await proc.wait()
    seconds = time.perf_counter() - started
    return f"course index: {samples[0].name} indexed in {seconds:.1f} s (exit {code})"


async def bench(runs: int) -> None:
    print(f"machine: {machine()}")
    figures: dict[str, list[float]] = {}
    async with DiscordServer(token=TOKEN) as discord, SlackServer() as slack:
        with tempfile.TemporaryDirectory(prefix="tutor-startup-") as tmp:
            print(await index_course(Path(tmp)))
            for n in range(runs):
                run = await one_run(Path(tmp), discord, slack)
                print(f"run {n + 1}: ready in {run['ready']:.2f} s", flush=True)
                for name, value in run.items():
                    figures.setdefault(name, []).append(value)
    print(f"\nmedian of {runs} runs (min-max):")
    for name, values in figures.items():
        print(
            f"  {name:28s} {statistics.median(values):6.2f} s  "
            f"({min(values):.2f}-{max(values):.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 runs")
    args = parser.parse_args()
    asyncio.run(bench(2 if args.quick else args.runs))


if __name__ == "__main__":
    main()
