"""Soak: `tutor run` with the embedded model under a steady mixed load on both platforms.

The bot runs as a real process (`python -m bot.cli.main run`), connected to loopback Discord
and Slack servers in this process, answering with the embedded llama.cpp model. A steady
mix arrives at ``--rate`` questions per second: Discord mentions, DMs and `/tutor ask`,
Slack mentions, DMs and `/tutor ask`, with an occasional `/tutor why` and `model list`.

Printed per time window: questions asked and answered, p50 and p95 latency (question
posted -> its ledger row, i.e. the answer finished), errors, and the bot's RSS. Then:
memory growth after warm-up (goal: flat), p95 over time, and errors (goal: zero), where
an error is a failed answer, a question never answered, an error notice on the wire, an
error logged by the bot, or a non-zero exit on SIGTERM.

    python bench/soak.py [--minutes 30] [--rate 0.25] [--quick]     # --quick: 2 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import machine, p95

from tests.loopback.discord_server import DiscordServer
from tests.loopback.slack_server import (
    SlackServer,
    direct_message,
    event_callback,
    mention,
    slash_command,
)
from tests.service_helpers import RunningBot, loopback_env, tutor_run

CONFIG = """
[tutor]
data_dir = "data"
history_turns = 2
system_prompt = "You are a patient tutor for a Python course. Answer briefly."

[models.embedded]
provider = "embedded"
model = "smollm2-135m"
max_tokens = 48
first_token_timeout_s = 30
timeout_s = 90

[tiers.free]
chain = ["embedded"]

[discord]
messages_per_minute = 600
burst = 100

[slack]
rate_per_minute = 600
rate_burst = 100

[service]
drain_timeout_s = 60
"""
QUESTIONS = [
    "What is a list in Python?",
    "How do I reverse a string?",
    "What does the zip function do?",
    "Why does my loop never stop?",
    "What is the difference between a tuple and a list?",
    "How do I read a file line by line?",
    "What is a dictionary comprehension?",
    "When should I use a while loop?",
]
KINDS = ("discord-mention", "slack-mention", "discord-dm", "slack-dm", "discord-ask", "slack-ask")
TOKEN = "soak-discord-token"


@dataclass
class Load:
    """What was asked when, and what came back wrong."""

    asked: dict[str, tuple[float, str]] = field(default_factory=dict)  # text -> (time, kind)
    commands: int = 0
    rss: list[tuple[float, int]] = field(default_factory=list)  # (time, bytes)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def ledger_rows(path: Path) -> list[tuple[str, float, str, str]]:
    """(text, at, outcome, platform) of every interaction recorded so far."""
    if not path.exists():
        return []
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
        return db.execute("SELECT text, at, outcome, platform FROM interactions").fetchall()


async def ask(
    kind: str, text: str, discord: DiscordServer, slack: SlackServer, people: dict
) -> None:
    learner = people["discord"]
    if kind == "discord-mention":
        await discord.post_message(text, author=learner, mention_bot=True)
    elif kind == "discord-dm":
        await discord.post_message(text, author=learner, channel=people["dm"])
    elif kind == "discord-ask":
        await discord.interact(["ask"], {"question": text}, user=learner)
    elif kind == "slack-mention":
        await slack.deliver(event_callback(mention(text, ts=slack.next_ts())))
    elif kind == "slack-dm":
        await slack.deliver(event_callback(direct_message(text, ts=slack.next_ts())))
    elif kind == "slack-ask":
        await slack.deliver(slash_command(slack, f"ask {text}"), kind="slash_commands")


async def drive(
    load: Load,
    discord: DiscordServer,
    slack: SlackServer,
    bot: RunningBot,
    *,
    seconds: float,
    rate: float,
) -> None:
    people = {"discord": discord.user("learner")}
    people["dm"] = discord.dm_channel(people["discord"])
    kinds = itertools.cycle(KINDS)
    start = time.monotonic()
    for n in itertools.count():
        due = start + n / rate
        if due - start >= seconds:
            return
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        text = f"{QUESTIONS[n % len(QUESTIONS)]} (#{n})"
        kind = next(kinds)
        load.asked[text] = (time.time(), kind)
        await ask(kind, text, discord, slack, people)
        if n % 10 == 9:  # now and then a command that needs no model
            load.commands += 1
            await slack.deliver(slash_command(slack, "why"), kind="slash_commands")
            await discord.interact(["model", "list"], {}, user=people["discord"])


async def sample_memory(load: Load, pid: int) -> None:
    while True:
        try:
            load.rss.append((time.time(), rss_bytes(pid)))
        except OSError:
            return
        await asyncio.sleep(5)


def latencies(load: Load, rows: list[tuple[str, float, str, str]]) -> dict[str, float]:
    """Question text -> seconds from posting it to its row (slash asks lose no text)."""
    done: dict[str, float] = {}
    for text, at, _, _ in rows:
        if text in load.asked:
            done[text] = at - load.asked[text][0]
    return done


def window_line(
    load: Load, rows: list, since: float, until: float, t0: float, error_rows: int
) -> str:
    asked = [t for t, (at, _) in load.asked.items() if since <= at < until]
    done = latencies(load, rows)
    lat = [done[t] for t in asked if t in done]
    rss = [b for at, b in load.rss if since <= at < until] or [0]
    p50 = statistics.median(lat) if lat else float("nan")
    return (
        f"{(since - t0) / 60:5.1f}-{(until - t0) / 60:4.1f} min  asked {len(asked):4d}  "
        f"answered {len(lat):4d}  p50 {p50:5.2f} s  p95 {p95(lat) if lat else float('nan'):5.2f} s"
        f"  failed {error_rows:3d}  RSS {max(rss) / 2**20:6.1f} MB"
    )


async def soak(minutes: float, rate: float, window_s: float, warmup_s: float) -> int:
    folder = Path(tempfile.mkdtemp(prefix="tutor-soak-"))
    config = folder / "config.toml"
    config.write_text(CONFIG)
    ledger = folder / "data" / "ledger.sqlite3"
    load = Load()
    async with DiscordServer(token=TOKEN) as discord, SlackServer() as slack:
        env = loopback_env(folder / "data", discord=discord, slack=slack)
        async with tutor_run(config, env) as bot:
            await bot.ready(within=300)
            print(f"bot ready (pid {bot.pid}); {rate} questions/s for {minutes:g} min", flush=True)
            t0 = time.time()
            memory = asyncio.create_task(sample_memory(load, bot.pid))
            driver = asyncio.create_task(
                drive(load, discord, slack, bot, seconds=minutes * 60, rate=rate)
            )
            since = t0
            while not driver.done():
                await asyncio.wait({driver}, timeout=max(0.0, since + window_s - time.time()))
                until = time.time()
                rows = await asyncio.to_thread(ledger_rows, ledger)
                failed = sum(
                    1 for _, at, outcome, _ in rows if since <= at < until and outcome == "failed"
                )
                print(window_line(load, rows, since, until, t0, failed), flush=True)
                since = until
            driver.result()
            await asyncio.sleep(min(120.0, 30 / rate))  # let the last answers finish
            memory.cancel()
            code = await bot.stop(signal.SIGTERM, within=180)
    rows = await asyncio.to_thread(ledger_rows, ledger)
    return report(load, bot, rows, code, t0, warmup_s, discord, slack)


def report(
    load: Load,
    bot: RunningBot,
    rows: list,
    code: int,
    t0: float,
    warmup_s: float,
    discord: DiscordServer,
    slack: SlackServer,
) -> int:
    done = latencies(load, rows)
    failed = [r for r in rows if r[2] == "failed"]
    unanswered = [t for t in load.asked if t not in done]
    wire = json.dumps([c.json for c in discord.calls]) + slack.wire_text()
    notices = wire.count("went wrong")
    logged = [r for r in bot.records() if r.get("level") in {"error", "critical"}]
    after = [(at, b) for at, b in load.rss if at >= t0 + warmup_s]
    print()
    print(f"machine: {machine()}")
    print(f"questions asked {len(load.asked)}, answered {len(done)}, commands {load.commands}")
    if len(after) >= 2:
        start_mb, end_mb = after[0][1] / 2**20, after[-1][1] / 2**20
        hours = (after[-1][0] - after[0][0]) / 3600
        slope = _slope([(at, b / 2**20) for at, b in after]) * 3600
        peak = max(b for _, b in after) / 2**20
        print(
            f"RSS after warm-up ({warmup_s / 60:g} min): {start_mb:.1f} MB -> {end_mb:.1f} MB "
            f"at the end ({end_mb - start_mb:+.1f} MB, {100 * (end_mb / start_mb - 1):+.1f}%), "
            f"peak {peak:.1f} MB, trend {slope:+.1f} MB/hour over {hours * 60:.0f} min"
        )
    lat = list(done.values())
    if lat:
        print(f"latency overall: p50 {statistics.median(lat):.2f} s, p95 {p95(lat):.2f} s")
    errors = len(failed) + len(unanswered) + notices + len(logged) + (code != 0)
    print(
        f"errors: {errors} (failed answers {len(failed)}, unanswered {len(unanswered)}, "
        f"error notices on the wire {notices}, errors logged {len(logged)}, exit code {code})"
    )
    for record in logged[:5]:
        print("  logged:", record.get("message"))
    return 0 if errors == 0 else 1


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=0.25, help="questions per second")
    parser.add_argument("--window", type=float, default=None, help="seconds per report line")
    parser.add_argument("--quick", action="store_true", help="2 minutes")
    args = parser.parse_args()
    minutes = 2.0 if args.quick else args.minutes
    window = args.window or (30.0 if minutes <= 5 else 300.0)
    warmup = min(300.0, minutes * 60 * 0.2)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return asyncio.run(soak(minutes, args.rate, window, warmup))


if __name__ == "__main__":
    raise SystemExit(main())
