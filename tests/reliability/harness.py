"""The whole service in-process for reliability scenarios: BotApp, the real adapters, the
real runner (``run_service``), real providers, all talking to loopback servers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.app import BotApp
from bot.config import load_config
from bot.events import IncomingMessage, Reply
from bot.ports import Adapter, ChatModel, ReplySink
from bot.service.runner import run_service
from tests.loopback import PATIENCE_S
from tests.loopback.discord_server import DiscordServer
from tests.loopback.slack_server import SlackServer
from tests.service_helpers import loopback_env

DISCORD_TOKEN = "reliability-discord-token"
LOCAL_TEXT = "A list is an ordered collection."  # what the loopback Ollama answers
CLOUD_TEXT = "Here is a detailed explanation."  # what the loopback OpenAI answers
CHANNEL = "C0COURSE"  # where Slack mentions are posted (tests.loopback.slack_server)


def finished(slack: SlackServer, thread_ts: str, text: str) -> bool:
    """The bot's answer containing ``text`` stands complete in a Slack thread."""
    return any(text in m.text and not m.streaming for m in slack.thread(CHANNEL, thread_ts))


def environment(
    data: Path,
    *,
    discord: DiscordServer | None = None,
    slack: SlackServer | None = None,
    ollama_url: str | None = None,
    openai_key: str | None = "sk-reliability",
) -> dict[str, str]:
    """The loopback environment, with an OpenAI key unless told otherwise."""
    return loopback_env(
        data, discord=discord, slack=slack, ollama_url=ollama_url, openai_key=openai_key
    )


@dataclass
class Stack:
    app: BotApp
    adapters: list[Adapter]
    replies: list[Reply] = field(default_factory=list)  # every message the core finished
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def answered(self, count: int, within: float = PATIENCE_S) -> list[Reply]:
        """Wait until the core has finished ``count`` messages (their rows are recorded)."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self.replies) >= count)
        return self.replies

    async def rows(self, columns: str = "model, route, outcome, reasons") -> list[tuple[Any, ...]]:
        """The ledger's interactions so far, oldest first (every queued row written first)."""
        await self.app.ledger.flush()
        return await self.app.ledger.query(f"SELECT {columns} FROM interactions ORDER BY id")


@contextlib.contextmanager
def impatient(stack: Stack, model: str, first_token_s: float) -> Iterator[None]:
    """Within the block, ``model`` gives up on its first token after ``first_token_s``.

    For a timeout that must fire, against a far end slower than that; everywhere else the
    config's timeouts are generous, so that they only catch hangs on a loaded machine.
    """
    models = stack.app.settings.models
    patient = models[model]
    models[model] = patient.model_copy(update={"first_token_timeout_s": first_token_s})
    try:
        yield
    finally:
        models[model] = patient


@contextlib.asynccontextmanager
async def serving(
    config: Path,
    environ: Mapping[str, str],
    *,
    discord: DiscordServer | None = None,
    models: Mapping[str, ChatModel] | None = None,
) -> AsyncIterator[Stack]:
    """``tutor run`` in this process, until the block ends (then it must exit with 0)."""
    settings = load_config(config, environ)
    stop = asyncio.Event()
    async with BotApp(settings, models=models) as app:
        stack = Stack(app, [])
        _observe(stack)
        adapters = stack.adapters = app.platform_adapters()
        task = asyncio.create_task(run_service(app, adapters, stop=stop, signals=()))
        try:
            async with asyncio.timeout(PATIENCE_S):
                for adapter in adapters:
                    if adapter.name == "discord" and discord is not None:
                        await discord.connected()  # ready waits for guilds to stream in
                    else:
                        ready = getattr(adapter, "ready", None)
                        if isinstance(ready, asyncio.Event):
                            await _or_failure(ready.wait(), task)
            yield stack
        finally:
            stop.set()
            code = await task
        assert code == 0


def _observe(stack: Stack) -> None:
    """Count the replies Tutor.handle returns (after their ledger rows are committed)."""
    handle = stack.app.tutor.handle

    async def observed(msg: IncomingMessage, sink: ReplySink | None = None) -> Reply:
        reply = await handle(msg, sink)
        async with stack._changed:
            stack.replies.append(reply)
            stack._changed.notify_all()
        return reply

    stack.app.tutor.handle = observed  # type: ignore[method-assign]


async def _or_failure(waiting: Any, task: asyncio.Task[int]) -> None:
    """Wait for ``waiting``, unless the service ends first (then raise what it ended with)."""
    wait = asyncio.ensure_future(waiting)
    done, _ = await asyncio.wait({wait, task}, return_when=asyncio.FIRST_COMPLETED)
    if wait not in done:
        wait.cancel()
        raise AssertionError(f"the service stopped during start-up with {task.result()}")
