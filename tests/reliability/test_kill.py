"""The process killed hard (SIGKILL) while both platforms keep it busy."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3

from tests.loopback.discord_server import DiscordServer
from tests.loopback.ollama_server import OllamaServer
from tests.loopback.slack_server import SlackServer, event_callback, mention
from tests.service_helpers import loopback_env, tutor_run, write_service_config

LEARNERS = 8


async def test_sigkill_under_load_loses_no_acknowledged_row(tmp_path):
    """Expectation: `tutor run` killed with SIGKILL in the middle of steady traffic on
    Discord and Slack loses no interaction it acknowledged (its "reply" log line says
    recorded, written only after the row was committed), and the ledger it leaves behind
    passes PRAGMA integrity_check with its rollups matching its rows."""
    data = tmp_path / "data"
    async with (
        DiscordServer(token="kill-test-token") as discord,
        SlackServer() as slack,
        OllamaServer() as ollama,
    ):
        config = write_service_config(tmp_path, chain=["default"])
        env = loopback_env(data, discord=discord, slack=slack, ollama_url=ollama.url)
        async with tutor_run(config, env) as bot:
            await bot.ready()
            traffic = [
                asyncio.create_task(discord_traffic(discord)),
                asyncio.create_task(slack_traffic(slack)),
            ]
            try:
                # Enough answered on both platforms, however slowly this machine runs.
                await bot.wait_until(lambda: busy(bot.replies()), within=240)
                bot.proc.send_signal(signal.SIGKILL)
                code = await bot.wait()
            finally:
                for task in traffic:
                    task.cancel()
                await asyncio.gather(*traffic, return_exceptions=True)

    assert code == -signal.SIGKILL
    acknowledged = {r["correlation_id"] for r in bot.replies() if r["recorded"]}
    platforms = {r["platform"] for r in bot.replies()}
    assert len(acknowledged) >= 120 and platforms == {"discord", "slack"}
    with sqlite3.connect(data / "ledger.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {cid for (cid,) in db.execute("SELECT correlation_id FROM interactions")}
        (rolled_up,) = db.execute("SELECT sum(questions) FROM usage_q").fetchone()
    missing = acknowledged - stored
    assert not missing, f"{len(missing)} acknowledged rows lost, e.g. {sorted(missing)[:5]}"
    assert rolled_up == len(stored)


def busy(replies: list[dict]) -> bool:
    return len(replies) >= 120 and {r["platform"] for r in replies} == {"discord", "slack"}


async def discord_traffic(discord: DiscordServer) -> None:
    learners = [discord.user(f"learner{i}") for i in range(LEARNERS)]
    for n in range(10**9):
        learner = learners[n % LEARNERS]
        await discord.post_message(f"Discord question {n}?", author=learner, mention_bot=True)
        await asyncio.sleep(0.01)


async def slack_traffic(slack: SlackServer) -> None:
    for n in range(10**9):
        ts = slack.next_ts()
        event = mention(f"Slack question {n}?", ts=ts, user=f"U0LEARNER{n % LEARNERS}")
        with contextlib.suppress(ConnectionResetError):
            await slack.deliver(event_callback(event))  # acknowledged or not, keep going
        await asyncio.sleep(0.01)
