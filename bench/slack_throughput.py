"""Slack adapter throughput and latency through the loopback Slack, with an instant model.

The real Tutor answers with a model that streams its answer at once; slack-bolt and
slack_sdk run for real against tests/loopback/slack_server.py (Socket Mode WebSocket +
Web API). Figures printed:

- events handled per second (a burst delivered at once, until every answer is finished);
- ack time (envelope sent -> ack received), median and 95th percentile;
- event -> first post (envelope sent -> the answer's chat.startStream reaches Slack);
- the core alone (Tutor.handle called directly: call -> first streamed text);
- the adapter's added latency: event -> first post, minus the core's own share in that
  same event (handler entry -> first streamed text). Goal: <= 5 ms.

Usage: python bench/slack_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time

from _common import ROOT, machine, median, p95

from adapters.slack.bot import SlackAdapter, SlackOptions
from bot.app import BotApp
from bot.config import load_config
from bot.events import IncomingMessage, Reply
from bot.ports import ReplySink
from tests.fakes import FakeChatModel, Script
from tests.loopback.slack_server import (
    APP_TOKEN,
    BOT_TOKEN,
    SlackServer,
    event_callback,
    mention,
)

ANSWER = "A list keeps items in order. Use append to add one, and index from zero."


class TimedSink:
    """Passes deltas on and notes when the first one came."""

    def __init__(self, sink: ReplySink | None) -> None:
        self.sink = sink
        self.first: float | None = None

    async def delta(self, text: str) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        if self.sink is not None:
            await self.sink.delta(text)

    async def reset(self, notice: str) -> None:
        if self.sink is not None:
            await self.sink.reset(notice)

    async def progress(self, note: str) -> None:
        """Passed on: while the core holds an answer back the thread shows a status."""
        if self.sink is not None:
            await self.sink.progress(note)


class TimedCore:
    """Wraps Tutor.handle: per conversation, when the core was entered and first spoke."""

    def __init__(self, handle) -> None:  # type: ignore[no-untyped-def]
        self.handle = handle
        self.times: dict[str, tuple[float, float]] = {}

    async def __call__(self, msg: IncomingMessage, sink: ReplySink | None) -> Reply:
        entered = time.perf_counter()
        timed = TimedSink(sink)
        reply = await self.handle(msg, timed)
        self.times[msg.conversation or msg.channel] = (entered, timed.first or entered)
        return reply


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


async def core_alone(app: BotApp, runs: int) -> list[float]:
    """Tutor.handle called directly: call -> first streamed text."""
    firsts = []
    for i in range(runs):
        sink = TimedSink(None)
        started = time.perf_counter()
        await app.tutor.handle(
            IncomingMessage(
                "What is a list?", f"U{i}", "C0BENCH", platform="slack", conversation=str(i)
            ),
            sink,
        )
        firsts.append((sink.first or started) - started)
    return firsts


async def sequential(slack: SlackServer, adapter: SlackAdapter, core: TimedCore, runs: int):
    """One event at a time: ack time, event -> first post, and the adapter's share."""
    acks, first_posts, added = [], [], []
    for i in range(runs):
        ts = slack.next_ts()
        sent = time.perf_counter()
        ack = await (
            await slack.deliver(event_callback(mention("What is a list?", ts=ts, user=f"U{i}")))
        )
        first = await slack.wait_for(
            lambda ts=ts: next(
                (c for c in slack.calls_to("chat.startStream") if c.args["thread_ts"] == ts),
                None,
            )
        )
        await adapter.drain()
        entered, spoke = core.times[ts]
        acks.append(ack.latency_s)
        first_posts.append(first.at - sent)
        added.append((first.at - sent) - (spoke - entered))
    return acks, first_posts, added


async def burst(slack: SlackServer, adapter: SlackAdapter, events: int) -> float:
    """Deliver ``events`` at once; events per second until every answer is finished."""
    done_before = len(slack.calls_to("chat.stopStream"))
    started = time.perf_counter()
    pending = [
        await slack.deliver(
            event_callback(mention("What is a list?", ts=slack.next_ts(), user=f"UB{i}"))
        )
        for i in range(events)
    ]
    await asyncio.gather(*pending)
    await slack.wait_for(
        lambda: len(slack.calls_to("chat.stopStream")) - done_before >= events, within_s=300
    )
    await adapter.drain()
    return events / (time.perf_counter() - started)


async def main(quick: bool) -> None:
    runs, events = (60, 100) if quick else (300, 500)
    with tempfile.TemporaryDirectory() as data:
        settings = load_config(ROOT / "config.toml", {"TUTOR_DATA_DIR": data})
        models = {name: FakeChatModel(name, Script(ANSWER)) for name in settings.models}
        async with BotApp(settings, models=models) as app, SlackServer() as slack:
            alone = await core_alone(app, runs)
            core = TimedCore(app.tutor.handle)
            options = SlackOptions(
                api_url=slack.api_url,
                rate_per_minute=1e9,
                max_concurrency=64,
                stream_interval_s=0.5,
            )
            adapter = SlackAdapter(BOT_TOKEN, app_token=APP_TOKEN, options=options)
            await adapter.start(core, app.commands)
            try:
                await sequential(slack, adapter, core, 10)  # warm-up
                acks, first_posts, added = await sequential(slack, adapter, core, runs)
                rate = await burst(slack, adapter, events)
            finally:
                await adapter.stop()

    print(f"machine: {machine()}")
    print(f"Slack adapter via loopback Socket Mode + Web API, instant model ({runs} events)")
    print(f"  events handled per second (burst of {events}): {rate:.0f}")
    print(f"  ack time: median {ms(median(acks))}, p95 {ms(p95(acks))} (Slack allows 3 s)")
    print(f"  event -> first post: median {ms(median(first_posts))}")
    print(f"  core alone (call -> first streamed text): median {ms(median(alone))}")
    print(f"  adapter added latency (event -> first post, minus core): median {ms(median(added))}")
    print("  goal: adapter added latency <= 5 ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events, for a fast check")
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    asyncio.run(main(parser.parse_args().quick))
