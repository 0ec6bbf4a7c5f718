"""Shared pieces of the Slack adapter tests: a scripted core, signing, a running adapter."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from adapters.slack.bot import SlackAdapter, SlackOptions
from bot.events import Citation, CommandRequest, CommandResult, IncomingMessage, Reply
from bot.ports import Preferences, ReplySink
from tests.loopback import PATIENCE_S
from tests.loopback.slack_server import APP_TOKEN, BOT_TOKEN, SlackServer

SIGNING_SECRET = "loopback-signing-secret"


class ScriptedCore:
    """Stands in for Tutor.handle: streams a scripted answer word by word."""

    def __init__(
        self,
        answer: str = "Lists hold items in order.",
        *,
        citations: Sequence[Citation] = (),
        fail: BaseException | None = None,
        restart_with: str | None = None,  # stream, reset, then stream this instead
    ) -> None:
        self.answer = answer
        self.citations = tuple(citations)
        self.fail = fail
        self.restart_with = restart_with
        self.messages: list[IncomingMessage] = []

    async def __call__(self, msg: IncomingMessage, sink: ReplySink | None) -> Reply:
        self.messages.append(msg)
        text = self.answer
        if sink is not None:
            await _stream(sink, text)
            if self.fail is not None:
                raise self.fail
            if self.restart_with is not None:
                await sink.reset("That answer was interrupted; here it is again.")
                text = self.restart_with
                await _stream(sink, text)
        elif self.fail is not None:
            raise self.fail
        return Reply(
            text=text,
            route="local",
            model="scripted",
            citations=self.citations,
            correlation_id=msg.correlation_id,
        )


async def _stream(sink: ReplySink, text: str) -> None:
    words = text.split(" ")
    for i, word in enumerate(words):
        await sink.delta(word if i == 0 else " " + word)


class RecordingCommands:
    """A CommandHandler that records requests and answers with a fixed text."""

    def __init__(self, text: str = "done") -> None:
        self.text = text
        self.requests: list[CommandRequest] = []

    async def __call__(self, request: CommandRequest) -> CommandResult:
        self.requests.append(request)
        return CommandResult(self.text)


class JsonPreferences:
    """A PreferenceStore in a JSON file, so preferences outlive a restart in tests."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"models": {}, "tiers": {}, "private": []}
        return json.loads(self.path.read_text())

    def _save(self, data: dict[str, Any]) -> None:
        self.path.write_text(json.dumps(data))

    async def preferences(
        self, platform: str, workspace: str | None, channel: str, user: str
    ) -> Preferences:
        data = self._load()
        base = f"{platform}/{workspace or ''}"
        model = data["models"].get(f"{base}/{channel}") or data["models"].get(f"{base}/*")
        return Preferences(
            tier=data["tiers"].get(f"{base}/{user}"),
            local_only=f"{base}/{user}" in data["private"],
            model=model,
        )

    async def set_model(
        self, platform: str, workspace: str | None, channel: str | None, model: str | None
    ) -> None:
        data = self._load()
        key = f"{platform}/{workspace or ''}/{channel or '*'}"
        if model is None:
            data["models"].pop(key, None)
        else:
            data["models"][key] = model
        self._save(data)

    async def set_tier(self, platform: str, workspace: str | None, user: str, tier: str) -> None:
        data = self._load()
        data["tiers"][f"{platform}/{workspace or ''}/{user}"] = tier
        self._save(data)

    async def set_local_only(
        self, platform: str, workspace: str | None, user: str, local_only: bool
    ) -> None:
        data = self._load()
        key = f"{platform}/{workspace or ''}/{user}"
        data["private"] = [k for k in data["private"] if k != key] + ([key] if local_only else [])
        self._save(data)


def loopback_options(server: SlackServer, **overrides: Any) -> SlackOptions:
    """Options for a test: loopback everywhere, no throttling delays."""
    options = SlackOptions(
        api_url=server.api_url,
        http_host="127.0.0.1",
        http_port=0,
        stream_interval_s=0.0,
        update_interval_s=0.0,
        rate_per_minute=600,
        rate_burst=50,
        shutdown_grace_s=PATIENCE_S,  # answers in progress at stop() finish, however slowly
    )
    return replace(options, **overrides)


@asynccontextmanager
async def running(
    server: SlackServer, handler: Any, commands: Any = None, **overrides: Any
) -> AsyncIterator[SlackAdapter]:
    """A started SlackAdapter talking to ``server``; stopped on exit."""
    adapter = SlackAdapter(
        BOT_TOKEN,
        app_token=APP_TOKEN,
        signing_secret=SIGNING_SECRET,
        options=loopback_options(server, **overrides),
    )
    await adapter.start(handler, commands or RecordingCommands())
    try:
        yield adapter
    finally:
        await adapter.stop()


def signed_headers(body: str, *, secret: str = SIGNING_SECRET, at: float | None = None) -> dict:
    """The headers Slack signs a request with (v0 HMAC-SHA256 of ``v0:timestamp:body``)."""
    timestamp = str(int(time.time() if at is None else at))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
    }
