"""Running ``tutor run`` for real: a config for loopback servers, a child process, its logs.

Used by the service and reliability tests and by bench/soak.py and bench/startup.py: the
loopback servers run in the caller's event loop, the bot in a child process talking to
them over 127.0.0.1, exactly as it would talk to Discord, Slack, Ollama and OpenAI.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.loopback.discord_server import DiscordServer
from tests.loopback.slack_server import APP_TOKEN, BOT_TOKEN, SlackServer

ROOT = Path(__file__).resolve().parents[1]

# Timeouts catch hangs only: CI is a loaded 2-core machine. A test of a timeout that must
# fire pairs a short one with a far end that never answers.
SERVICE_CONFIG = """
[tutor]
data_dir = "data"
history_turns = 2
max_input_chars = 2000
system_prompt = "You are a test tutor."

[models.local]
provider = "ollama"
model = "llama3.2:3b"
first_token_timeout_s = 30.0
timeout_s = 60.0

[models.cloud]
provider = "openai"
model = "gpt-4o-mini"
base_url = "{openai_url}"
first_token_timeout_s = {cloud_first_token_s}
timeout_s = 60.0
max_retries = 0

[roles]
default = "local"
fallback = "cloud"

[tiers.free]
chain = {chain}
router = {{ cloud_first = {cloud_first} }}

[routing]
default_tier = "free"
breaker_cooldown_s = {cooldown_s}

[prices.models]
"gpt-4o-mini" = {{ input = 0.15, output = 0.60 }}

[discord]
messages_per_minute = 6000
burst = 1000
max_concurrent = 16
stream_interval_s = 0.5

[slack]
stream_interval_s = 0
update_interval_s = 0
rate_per_minute = 6000
rate_burst = 1000

[ledger]
max_wait_ms = 5000

[service]
drain_timeout_s = {drain_timeout_s}
{extra}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_service_config(
    folder: Path,
    *,
    openai_url: str = "http://127.0.0.1:9/v1",
    chain: Sequence[str] = ("default", "fallback"),
    cloud_first: bool = False,
    cloud_first_token_s: float = 30.0,
    cooldown_s: float = 0.5,
    drain_timeout_s: float = 10.0,
    extra: str = "",
) -> Path:
    """A config whose cloud model points at ``openai_url``; ``extra`` is appended TOML."""
    path = folder / "config.toml"
    text = SERVICE_CONFIG.format(
        openai_url=openai_url,
        chain=json.dumps(list(chain)),
        cloud_first=json.dumps(cloud_first),
        cloud_first_token_s=cloud_first_token_s,
        cooldown_s=cooldown_s,
        drain_timeout_s=drain_timeout_s,
        extra=textwrap.dedent(extra),
    )
    path.write_text(text, encoding="utf-8")
    return path


POLL_S = 0.05


@dataclass
class RunningBot:
    """A ``tutor run`` child process and everything it has written so far."""

    proc: asyncio.subprocess.Process
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _readers: list[asyncio.Task[None]] = field(default_factory=list)
    _records: list[dict[str, Any]] = field(default_factory=list)
    _parsed: int = 0  # stderr lines read into _records so far

    @property
    def pid(self) -> int:
        return self.proc.pid

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines (``--log-format json``) written so far (each parsed once)."""
        for line in self.stderr[self._parsed :]:
            with contextlib.suppress(ValueError):
                self._records.append(json.loads(line))
            self._parsed += 1
        return list(self._records)

    def output(self) -> str:
        return "".join(self.stdout) + "".join(self.stderr)

    async def wait_for_log(
        self, predicate: Callable[[dict[str, Any]], bool], *, within: float = 60.0
    ) -> dict[str, Any]:
        """The first JSON log record matching ``predicate`` (waits for it)."""

        def found() -> dict[str, Any] | None:
            return next((r for r in self.records() if predicate(r)), None)

        await self._until(lambda: found() is not None, within)
        record = found()
        if record is None:
            raise AssertionError(f"tutor run exited ({self.proc.returncode}):\n{self.output()}")
        return record

    async def wait_until(self, check: Callable[[], bool], *, within: float = 60.0) -> None:
        """Wait until ``check()`` holds."""
        await self._until(check, within)
        if not check():
            raise AssertionError(f"tutor run exited ({self.proc.returncode}):\n{self.output()}")

    async def _until(self, done: Callable[[], bool], within: float) -> None:
        """Until ``done()`` holds or the process has ended. Rechecked when lines arrive,
        a burst of them at once (``POLL_S``): a busy process writes lines faster than a
        loaded machine can recheck after each one."""

        def lines() -> int:
            return len(self.stdout) + len(self.stderr)

        async with asyncio.timeout(within):
            while True:
                seen = lines()
                if done() or self.proc.returncode is not None:
                    return
                async with self._changed:
                    await self._changed.wait_for(
                        lambda seen=seen: lines() != seen or self.proc.returncode is not None
                    )
                await asyncio.sleep(POLL_S)

    def replies(self) -> list[dict[str, Any]]:
        """The ``reply`` log records: one per message the core finished."""
        return [r for r in self.records() if r.get("event") == "reply"]

    async def ready(self, within: float = 60.0) -> dict[str, Any]:
        return await self.wait_for_log(lambda r: r.get("event") == "ready", within=within)

    async def stop(self, sig: signal.Signals = signal.SIGTERM, within: float = 60.0) -> int:
        """Send ``sig`` and wait for the process to end; its exit code."""
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        return await self.wait(within)

    async def wait(self, within: float = 60.0) -> int:
        """Wait for the process to end by itself; its exit code."""
        async with asyncio.timeout(within):
            code = await self.proc.wait()
            await asyncio.gather(*self._readers)
        return code


async def _pump(stream: asyncio.StreamReader, into: list[str], changed: asyncio.Condition) -> None:
    while line := await stream.readline():
        async with changed:
            into.append(line.decode("utf-8", "replace"))
            changed.notify_all()
    async with changed:
        changed.notify_all()


@contextlib.asynccontextmanager
async def tutor_run(
    config: Path,
    environ: Mapping[str, str],
    *run_args: str,
    verbose: int = 0,
    stdin: bytes | None = None,
) -> AsyncIterator[RunningBot]:
    """``python -m bot.cli.main --config CONFIG --log-format json [-v] run RUN_ARGS`` with
    ``environ`` over a clean environment (no credentials leak in from the caller's).

    The process is killed on exit if it is still running.
    """
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        **environ,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli.main",
        "--config",
        str(config),
        "--log-format",
        "json",
        *(["-" + "v" * verbose] if verbose else []),
        "run",
        *run_args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    bot = RunningBot(proc)
    bot._readers = [
        asyncio.create_task(_pump(proc.stdout, bot.stdout, bot._changed)),
        asyncio.create_task(_pump(proc.stderr, bot.stderr, bot._changed)),
    ]
    if stdin is not None and proc.stdin is not None:
        proc.stdin.write(stdin)
        await proc.stdin.drain()
        proc.stdin.close()
    try:
        yield bot
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await asyncio.gather(*bot._readers, return_exceptions=True)


def loopback_env(
    data: Path,
    *,
    discord: DiscordServer | None = None,
    slack: SlackServer | None = None,
    ollama_url: str | None = None,
    openai_key: str | None = None,
) -> dict[str, str]:
    """What an operator would export: credentials and endpoints of the loopback servers."""
    env = {"TUTOR_DATA_DIR": str(data)}
    if discord is not None:
        env |= {
            "DISCORD_TOKEN": discord.token,
            "DISCORD_API_BASE": discord.api_base,
            "DISCORD_GATEWAY_URL": discord.gateway_url,
        }
    if slack is not None:
        env |= {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}
        env |= {"SLACK_API_URL": slack.api_url}
    if ollama_url is not None:
        env["OLLAMA_HOST"] = ollama_url
    if openai_key is not None:
        env["OPENAI_API_KEY"] = openai_key
    return env
