"""Scaling out: several ``tutor run`` processes. Two in Slack HTTP mode behind a loopback
load balancer, one PostgreSQL ledger: a retried event is answered once whichever instance
it lands on, and a thread continued on the other instance keeps its history. Two on
Discord, each running one shard of two: each answers its own shard's events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.ledger.store import Ledger
from tests.loopback.discord_server import DiscordServer
from tests.loopback.ollama_server import OllamaServer
from tests.loopback.slack_server import BOT_TOKEN, SlackServer, event_callback, mention
from tests.service_helpers import (
    SERVICE_CONFIG,
    RunningBot,
    free_port,
    loopback_env,
    tutor_run,
    write_service_config,
)
from tests.slack_helpers import SIGNING_SECRET, signed_headers

DISCORD_TOKEN = "discord-bot-token-0123456789abcdef"
GUILD_ON_SHARD_1 = (1 << 22) | 7  # (guild_id >> 22) % 2 == 1; DMs are on shard 0
HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


class Balancer:
    """A loopback HTTP load balancer: each request goes to the next backend in turn
    (round robin), headers and body unchanged; ``routed`` says where each one went."""

    def __init__(self, backends: Sequence[str]) -> None:
        self.backends = list(backends)
        self.routed: list[int] = []
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._server = TestServer(app, host="127.0.0.1")
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    async def __aenter__(self) -> Balancer:
        self._session = aiohttp.ClientSession()
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.close()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        index = len(self.routed) % len(self.backends)
        self.routed.append(index)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with self._session.request(
            request.method,
            self.backends[index] + request.path_qs,
            data=await request.read(),
            headers=headers,
        ) as response:
            body = await response.read()
            kind = response.headers.get("Content-Type")
            return web.Response(
                status=response.status, body=body, headers={"Content-Type": kind} if kind else {}
            )


def instance_config(folder: Path, port: int) -> Path:
    """The service config with Slack in HTTP mode on ``port`` (the only per-instance line)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = SERVICE_CONFIG.format(
        openai_url="http://127.0.0.1:9/v1",
        chain=json.dumps(["default"]),
        cloud_first="false",
        cloud_first_token_s=30.0,
        cooldown_s=0.5,
        drain_timeout_s=30.0,
        extra="",
    ).replace("[slack]\n", f'[slack]\nmode = "http"\nhttp_host = "127.0.0.1"\nhttp_port = {port}\n')
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def post(session: aiohttp.ClientSession, url: str, event: dict, retry: int = 0) -> int:
    body = json.dumps(event)
    headers = signed_headers(body) | {"Content-Type": "application/json"}
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    async with session.post(f"{url}/slack/events", data=body, headers=headers) as response:
        return response.status


def replies(bot: RunningBot) -> list[dict]:
    return [r for r in bot.records() if r.get("event") == "reply"]


def chats(ollama: OllamaServer) -> list[list[dict]]:
    """The messages of each chat request the models got (preloads left out)."""
    return [r["messages"] for r in ollama.requests if r.get("messages")]


async def test_two_slack_instances_behind_a_balancer_answer_once_and_share_threads(
    postgres_settings, tmp_path
):
    ports = [free_port(), free_port()]
    async with (
        SlackServer() as slack,
        OllamaServer() as ollama,
        Balancer([f"http://127.0.0.1:{port}" for port in ports]) as balancer,
        aiohttp.ClientSession() as session,
    ):
        ollama.behaviour.answer = lambda messages: f"About: {messages[-1]['content'][-40:]}"
        bots = []
        async with contextlib.AsyncExitStack() as stack:
            for i, port in enumerate(ports):
                env = {
                    "TUTOR_DATA_DIR": str(tmp_path / f"i{i}" / "data"),
                    "TUTOR_LEDGER_URL": postgres_settings.ledger.url,
                    "SLACK_BOT_TOKEN": BOT_TOKEN,
                    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                    "SLACK_API_URL": slack.api_url,
                    "OLLAMA_HOST": ollama.url,
                }
                config = instance_config(tmp_path / f"i{i}", port)
                bots.append(await stack.enter_async_context(tutor_run(config, env)))
            for bot in bots:
                await bot.ready()

            # A question lands on the first instance...
            first = slack.next_ts()
            asked = event_callback(mention("What is a list?", ts=first))
            assert await post(session, balancer.url, asked) == 200
            await bots[0].wait_for_log(lambda r: r.get("event") == "reply")
            # ...its thread goes on on the second, which sees the first turn.
            follow = event_callback(
                mention("And how do I sort one?", ts=slack.next_ts(), thread_ts=first)
            )
            assert await post(session, balancer.url, follow) == 200
            await bots[1].wait_for_log(lambda r: r.get("event") == "reply")
            prompt = chats(ollama)[-1]
            assert "How do I sort one?".lower() in prompt[-1]["content"].lower()
            earlier = [m for m in prompt[:-1] if m["role"] in ("user", "assistant")]
            assert any("What is a list?" in m["content"] for m in earlier if m["role"] == "user")
            assert any(
                m["content"].startswith("About:") for m in earlier if m["role"] == "assistant"
            )

            # A new question and Slack's retry of it land on different instances at once;
            # the follow-up's retry lands on the instance that did not answer it.
            retried = event_callback(mention("What is a tuple?", ts=slack.next_ts()))
            statuses = await asyncio.gather(
                post(session, balancer.url, retried), post(session, balancer.url, retried, retry=1)
            )
            assert statuses == [200, 200]
            assert await post(session, balancer.url, follow, retry=1) == 200

            def three(_: dict) -> bool:
                return sum(len(replies(bot)) for bot in bots) >= 3

            waits = [asyncio.create_task(bot.wait_for_log(three)) for bot in bots]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for wait in waits:
                wait.cancel()
            # SIGTERM: answers in progress (a second answer, were there one) finish first.
            codes = await asyncio.gather(*(bot.stop() for bot in bots))

    assert codes == [0, 0]
    assert balancer.routed == [0, 1, 0, 1, 0]
    assert sorted(len(replies(bot)) for bot in bots) == [1, 2]  # 3 answers, none twice
    assert len(chats(ollama)) == 3
    async with Ledger(postgres_settings, purge_every_s=None) as ledger:
        rows = await ledger.query("SELECT text FROM interactions ORDER BY at")
    assert [text for (text,) in rows] == [
        "What is a list?",
        "And how do I sort one?",
        "What is a tuple?",
    ]


async def test_two_discord_instances_each_run_their_shard_and_answer_its_events(tmp_path):
    """One config, two `tutor run` processes told their shard in the environment: the
    server's messages reach the instance running its shard, DMs the one running shard 0."""
    async with (
        DiscordServer(token=DISCORD_TOKEN, guild_id=GUILD_ON_SHARD_1) as discord,
        OllamaServer() as ollama,
        contextlib.AsyncExitStack() as stack,
    ):
        config = write_service_config(tmp_path)
        bots = []
        for shard in (0, 1):
            env = loopback_env(
                tmp_path / f"i{shard}" / "data", discord=discord, ollama_url=ollama.url
            )
            env |= {"TUTOR_DISCORD_SHARDS": "2", "TUTOR_DISCORD_SHARD_IDS": str(shard)}
            bots.append(await stack.enter_async_context(tutor_run(config, env)))
        await discord.connected(sessions=2)
        learner = discord.user("ada")
        await discord.post_message("What is a list?", author=learner, mention_bot=True)
        await discord.post_message(
            "What is a tuple?", author=learner, channel=discord.dm_channel(learner)
        )
        for bot in bots:
            await bot.wait_for_log(lambda r: r.get("event") == "reply")
        codes = await asyncio.gather(*(bot.stop() for bot in bots))
    assert codes == [0, 0]
    assert sorted(i["shard"] for i in discord.identifies) == [[0, 2], [1, 2]]
    assert [len(replies(bot)) for bot in bots] == [1, 1]
    assert len(chats(ollama)) == 2
