"""Discord adapter speed through the loopback gateway, with an instant model.

Prints, from one run on this machine:
- the core alone (Tutor.handle called directly): median time to the first delta;
- a bare discord.py client that only echoes (no adapter, no core): median
  mention-to-first-send over the same loopback gateway and REST;
- the adapter with the core: median mention-to-first-send, and messages handled
  per second for a burst of mentions from many learners;
- the adapter's added latency: adapter+core minus bare echo minus core (goal <= 5 ms).

Run: ``python bench/discord_throughput.py`` (``--quick`` for a shorter run).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import discord  # noqa: E402

from adapters.discord.bot import DiscordAdapter, DiscordOptions  # noqa: E402
from adapters.discord.routing import route_client, webhooks_routed_to  # noqa: E402
from bot.app import BotApp  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.events import ChatMessage, IncomingMessage  # noqa: E402
from bot.models.base import StreamingModel  # noqa: E402
from bot.ports import Generation, GenerationParams, StreamEvent, TextDelta  # noqa: E402
from tests.loopback.discord_server import DiscordServer, RestCall  # noqa: E402

ANSWER = "A list is an ordered, changeable collection: [1, 2, 3]."
CONFIG = """
[tutor]
history_turns = 2
[models.instant]
provider = "ollama"
model = "instant"
[roles]
default = "instant"
[tiers.free]
chain = ["default"]
"""


class InstantModel(StreamingModel):
    """Answers at once, in two deltas: the cost of the pipeline, not of a model."""

    name = "instant"
    provider = "bench"
    is_local = True

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> AsyncIterator[StreamEvent]:
        head, tail = ANSWER[:20], ANSWER[20:]
        yield TextDelta(head)
        yield TextDelta(tail)
        yield Generation(text=ANSWER, model=self.name, input_tokens=10, output_tokens=12)


class FirstDelta:
    def __init__(self) -> None:
        self.at: float | None = None

    async def delta(self, text: str) -> None:
        self.at = self.at or time.perf_counter()

    async def reset(self, notice: str) -> None:
        pass


class EchoClient(discord.Client):
    """discord.py alone: answer every mention at once, with the same routing."""

    def __init__(self, server: DiscordServer) -> None:
        intents = discord.Intents.none()
        intents.guilds = intents.guild_messages = True
        super().__init__(intents=intents, guild_ready_timeout=0.01, max_messages=None)
        route_client(self, server.api_base, server.gateway_url)

    async def on_message(self, message: discord.Message) -> None:
        if self.user is not None and message.author.id != self.user.id:
            none = discord.AllowedMentions.none()
            await message.reply("echo", mention_author=False, allowed_mentions=none)


async def core_first_delta(app: BotApp, n: int) -> list[float]:
    """Milliseconds from calling Tutor.handle to its first streamed delta."""
    times = []
    for i in range(n):
        msg = IncomingMessage(
            text=f"question {i}", user=f"u{i}", channel="c", platform="bench", conversation=str(i)
        )
        sink = FirstDelta()
        start = time.perf_counter()
        await app.tutor.handle(msg, sink)
        assert sink.at is not None
        times.append((sink.at - start) * 1000)
    return times


async def mention_to_first_send(server: DiscordServer, n: int) -> list[float]:
    """Milliseconds from the gateway sending a mention to the bot's first POST arriving.

    Each answer is complete (its final edit in) before the next question is asked.
    """
    times = []
    for i in range(n):
        learner = server.user(f"learner{i}")
        done = len(server.calls)
        start = time.perf_counter()
        question = await server.post_message(f"question {i}", author=learner, mention_bot=True)
        (call,) = await server.wait_for(lambda c, q=question: _answers(c, q))
        times.append((call.at - start) * 1000)
        await server.wait_for(lambda c, d=done: c in server.calls[d:] and _is_complete(c))
    return times


async def burst(server: DiscordServer, n: int) -> float:
    """Answers completed per second when ``n`` learners ask at once."""
    learners = [server.user(f"burst{i}") for i in range(n)]
    before = len(_finished(server.calls))
    start = time.perf_counter()
    for i, learner in enumerate(learners):
        await server.post_message(f"burst {i}", author=learner, mention_bot=True)
    calls = await server.wait_for(_is_final, count=before + n, within=120)
    return n / (calls[-1].at - start)


def _is_complete(call: RestCall) -> bool:
    """An answer's last write: the full text, or the echo client's one reply."""
    return _is_final(call) or _body(call).get("content") == "echo"


def _is_final(call: RestCall) -> bool:
    """The bot's last write of an answer: the full text, sent or edited in."""
    return call.status == 200 and _body(call).get("content") == ANSWER


def _body(call: RestCall) -> dict[str, Any]:
    """A call's JSON object (a command sync sends a list: not a message)."""
    return call.json if isinstance(call.json, dict) else {}


def _finished(calls: list[RestCall]) -> list[RestCall]:
    return [c for c in calls if _is_final(c)]


def _answers(call: RestCall, question: dict[str, Any]) -> bool:
    reference = _body(call).get("message_reference") or {}
    return call.method == "POST" and str(reference.get("message_id")) == question["id"]


async def main(quick: bool) -> None:
    n, n_burst = (50, 100) if quick else (300, 500)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(CONFIG)
        settings = load_config(config, {"TUTOR_DATA_DIR": tmp})
        async with BotApp(settings, models={"instant": InstantModel()}) as app:
            await core_first_delta(app, 20)  # warm up
            core = await core_first_delta(app, n)

            async with DiscordServer() as server:
                echo = EchoClient(server)
                with webhooks_routed_to(server.api_base):
                    task = asyncio.create_task(echo.start(server.token))
                    await server.connected()
                    await mention_to_first_send(server, 20)
                    bare = await mention_to_first_send(server, n)
                    await echo.close()
                    await task

            async with DiscordServer() as server:
                options = DiscordOptions(
                    ready_timeout_s=0.01, messages_per_minute=10_000, burst=10_000
                )
                adapter = DiscordAdapter(
                    server.token,
                    options,
                    api_base=server.api_base,
                    gateway_url=server.gateway_url,
                )
                task = asyncio.create_task(adapter.run(app.tutor.handle, app.commands))
                await server.connected()
                await mention_to_first_send(server, 20)
                full = await mention_to_first_send(server, n)
                rate = await burst(server, n_burst)
                await adapter.close()
                await task

    med = statistics.median
    added = med(full) - med(bare) - med(core)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"messages: {n} sequential, burst of {n_burst} (max_concurrent={options.max_concurrent})")
    print(f"core alone, Tutor.handle to first delta:     median {med(core):6.2f} ms")
    print(f"discord.py echo, mention to first send:      median {med(bare):6.2f} ms")
    print(
        f"adapter + core, mention to first send:       median {med(full):6.2f} ms"
        f"  (p90 {_p90(full):.2f} ms)"
    )
    print(f"adapter's added latency (minus echo, core):  median {added:6.2f} ms  (goal <= 5 ms)")
    print(f"throughput, burst through the gateway:       {rate:6.0f} messages/s")


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[round(0.9 * (len(ordered) - 1))]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages")
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main(parser.parse_args().quick))
