"""``tutor run`` as a real process: Discord, Slack, Ollama and OpenAI on loopback servers.

The bot runs in a child process, exactly as an operator starts it; the tests talk to it
only through the platforms' wire protocols, its logs, its endpoint and its signals.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.loopback.discord_server import DiscordServer
from tests.loopback.ollama_server import OllamaServer
from tests.loopback.openai_server import OpenAIServer
from tests.loopback.slack_server import (
    APP_TOKEN,
    BOT_TOKEN,
    SlackServer,
    event_callback,
    mention,
)
from tests.service_helpers import free_port, loopback_env, tutor_run, write_service_config

DISCORD_TOKEN = "discord-bot-token-0123456789abcdef"  # not token-shaped: only config hides it
OPENAI_KEY = "sk-test-openai-key-0123456789abcdef"
SIGNING_SECRET = "slack-signing-secret-9876543210"
HARD_QUESTION = "Explain in detail, step by step, how recursion works in Python."


def platform_env(
    discord: DiscordServer, slack: SlackServer, ollama: OllamaServer, data: Path
) -> dict[str, str]:
    env = loopback_env(
        data, discord=discord, slack=slack, ollama_url=ollama.url, openai_key=OPENAI_KEY
    )
    return env | {"SLACK_SIGNING_SECRET": SIGNING_SECRET}


async def fetch(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def test_a_full_run_serves_both_platforms_and_logs_no_secret(tmp_path):
    """Expectation: with DEBUG logs on, a run that answers on Discord and Slack (locally
    and from the cloud), serves /healthz and /metrics and stops on SIGTERM writes only
    JSON lines, none containing a token, key or secret; every line logged while a
    message is handled carries its correlation id; the exit code is 0."""
    port = free_port()
    async with (
        DiscordServer(token=DISCORD_TOKEN) as discord,
        SlackServer() as slack,
        OllamaServer() as ollama,
        OpenAIServer() as openai,
    ):
        config = write_service_config(tmp_path, openai_url=openai.base_url)
        env = platform_env(discord, slack, ollama, tmp_path / "data")
        async with tutor_run(config, env, "--metrics-port", str(port), verbose=2) as bot:
            await bot.ready()
            health, body = await fetch(f"http://127.0.0.1:{port}/healthz")
            learner = discord.user("ada")
            await discord.post_message("What is a list?", author=learner, mention_bot=True)
            await discord.post_message(HARD_QUESTION, author=learner, mention_bot=True)
            ts = slack.next_ts()
            await (await slack.deliver(event_callback(mention("What is a dict?", ts=ts))))
            await discord.wait_for(lambda c: "ordered collection" in str(c.json))
            await discord.wait_for(lambda c: "detailed explanation" in str(c.json))
            await slack.wait_for(lambda: slack.calls_to("chat.stopStream"))
            replies = [r for r in bot.records() if r.get("event") == "reply"]
            while len(replies) < 3:
                await bot.wait_for_log(lambda r: r.get("event") == "reply")
                replies = [r for r in bot.records() if r.get("event") == "reply"]
            status, metrics = await fetch(f"http://127.0.0.1:{port}/metrics")
            code = await bot.stop(signal.SIGTERM)

    output = bot.output()
    for secret in (DISCORD_TOKEN, OPENAI_KEY, SIGNING_SECRET, BOT_TOKEN, APP_TOKEN):
        assert secret not in output
    assert code == 0
    lines = [line for line in bot.stderr if line.strip()]
    assert len(bot.records()) == len(lines)  # every line is one JSON object
    assert health == 200 and '"status": "ok"' in body

    assert sorted((r["platform"], r["route"]) for r in replies) == [
        ("discord", "cloud"),
        ("discord", "local"),
        ("slack", "local"),
    ]
    assert all(r["recorded"] and r["correlation_id"] for r in replies)
    for reply in replies:  # the SDK's own DEBUG lines while answering carry the id too
        same = [r for r in bot.records() if r.get("correlation_id") == reply["correlation_id"]]
        assert {r["logger"] for r in same} - {"bot.core.tutor"}, reply

    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    requests = {
        (s.labels["platform"], s.labels["route"]): s.value
        for s in families["tutor_requests"].samples
        if s.name == "tutor_requests_total"
    }
    assert requests == {("discord", "local"): 1, ("discord", "cloud"): 1, ("slack", "local"): 1}
    [cost] = [s for s in families["tutor_cost_usd"].samples if s.name.endswith("_total")]
    assert cost.labels == {"tier": "free", "model": "cloud"} and cost.value > 0
    stopping = [r for r in bot.records() if "SIGTERM" in r["message"]]
    assert stopping and stopping[0]["logger"] == "bot.service.runner"
    with sqlite3.connect(tmp_path / "data" / "ledger.sqlite3") as db:
        (rows,) = db.execute("SELECT count(*) FROM interactions").fetchone()
    assert rows == 3


async def test_sigterm_lets_an_answer_in_progress_finish_and_exits_0(tmp_path):
    """Expectation: SIGTERM arriving while a slow answer streams stops intake, the answer
    is still delivered in full and recorded, the ledger is flushed, and the exit code is 0."""
    async with DiscordServer(token=DISCORD_TOKEN) as discord, OllamaServer() as ollama:
        ollama.behaviour.hold = release = asyncio.Event()  # the answer waits for SIGTERM
        config = write_service_config(tmp_path, chain=["default"], drain_timeout_s=60)
        env = loopback_env(tmp_path / "data", discord=discord, ollama_url=ollama.url)
        async with tutor_run(config, env) as bot:
            await bot.ready()
            learner = discord.user("ada")
            await discord.post_message("What is a list?", author=learner, mention_bot=True)
            await asyncio.wait_for(ollama.chatting.wait(), 60)  # the answer is on its way
            bot.proc.send_signal(signal.SIGTERM)
            await bot.wait_for_log(lambda r: "waiting for 1 answer(s)" in r["message"])
            release.set()
            code = await bot.wait()
            late = [c for c in discord.calls if "ordered collection" in str(c.json)]

    assert code == 0
    assert late, bot.output()  # delivered after the signal, before the exit
    with sqlite3.connect(tmp_path / "data" / "ledger.sqlite3") as db:
        rows = db.execute("SELECT outcome, model FROM interactions").fetchall()
    assert rows == [("answered", "local")]
    messages = [r["message"] for r in bot.records()]
    assert any("waiting for 1 answer(s) in progress" in m for m in messages)
    assert any("1 interactions recorded" in m for m in messages)


async def test_without_credentials_the_console_answers_stdin(tmp_path):
    """Expectation: no platform credentials means the console adapter: a question on
    stdin is answered on stdout, and the end of stdin ends the run with exit code 0."""
    async with OllamaServer() as ollama:
        config = write_service_config(tmp_path)
        env = {"OLLAMA_HOST": ollama.url, "TUTOR_DATA_DIR": str(tmp_path / "data")}
        async with tutor_run(config, env, stdin=b"What is a list?\n") as bot:
            code = await bot.wait()
    assert code == 0
    assert "A list is an ordered collection." in "".join(bot.stdout)
    assert any("serving the console" in r["message"] for r in bot.records())


async def test_a_refused_token_stops_the_run_with_a_clear_message(tmp_path):
    """Expectation: a wrong DISCORD_TOKEN ends the run with exit code 1 and one clear
    error line (no traceback), so a supervisor notices and an operator knows why."""
    async with DiscordServer(token=DISCORD_TOKEN) as discord, OllamaServer() as ollama:
        config = write_service_config(tmp_path)
        env = loopback_env(tmp_path / "data", discord=discord, ollama_url=ollama.url)
        env["DISCORD_TOKEN"] = "revoked-token-value-000000"  # the server knows another
        async with tutor_run(config, env) as bot:
            code = await bot.wait()
    assert code == 1
    errors = [r["message"] for r in bot.records() if r["level"] == "error"]
    assert any("Discord refused the bot token" in m for m in errors), errors
    assert "Traceback" not in bot.output()
    assert "revoked-token-value-000000" not in bot.output()


async def test_a_corrupt_ledger_is_a_clear_message_and_answering_goes_on(tmp_path):
    """Expectation (finding 9): a ledger file that is not a database is named with the way
    to recover (pointing at `tutor doctor`), never a traceback, and answering goes on with
    the rows queued beside the ledger."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "ledger.sqlite3").write_bytes(b"this is not a database" * 100)
    async with OllamaServer() as ollama:
        config = write_service_config(tmp_path)
        env = {"OLLAMA_HOST": ollama.url, "TUTOR_DATA_DIR": str(data)}
        async with tutor_run(config, env, stdin=b"What is a list?\n") as bot:
            code = await bot.wait()
    assert code == 0
    assert "A list is an ordered collection." in "".join(bot.stdout)
    assert "tutor doctor" in bot.output() and ".broken" in bot.output()
    assert "Traceback" not in bot.output()
    assert (data / "ledger.sqlite3.overflow.jsonl").read_text().count("\n") == 1
