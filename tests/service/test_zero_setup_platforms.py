"""The zero-setup default on both platforms: the shipped config, the shipped sample course,
no Ollama, no API key, the real embedded model, and Discord and Slack on loopback servers.

What a learner reads there must be right: navigation questions answered from the course's
front matter at once, and a content question answered from the course (by the embedded
model or, when it is not confident, in the course's own words) with its lesson cited,
never an apology.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.loopback.discord_server import DiscordServer, RestCall
from tests.loopback.slack_server import SlackServer, event_callback, mention
from tests.service_helpers import ROOT, free_port, loopback_env, tutor_run

APOLOGY = "can't answer right now"
# The embedded model loads and answers on a loaded 2-core machine: a safety net only.
ANSWER_WITHIN_S = 300.0


def ingest_sample_course(data: Path) -> None:
    env = {"TUTOR_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "ingest", "course/"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr


def discord_text(call: RestCall) -> str:
    return str(call.json.get("content", "")) if isinstance(call.json, dict) else ""


async def test_navigation_and_a_course_question_on_both_platforms(tmp_path):
    """Expectation: "What is lesson 3 about?" on Discord names lesson 3's title and cites
    its file; "what comes after loops?" on Slack names lesson 6; a content question on
    Discord gets an answer that cites the course and is no apology; the ledger keeps all
    three answers as local."""
    data = tmp_path / "data"
    ingest_sample_course(data)
    async with DiscordServer() as discord, SlackServer() as slack:
        env = loopback_env(data, discord=discord, slack=slack)
        env["OLLAMA_HOST"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        async with tutor_run(ROOT / "config.toml", env) as bot:
            await bot.ready(within=ANSWER_WITHIN_S)
            learner = discord.user("ada")
            await discord.post_message("What is lesson 3 about?", author=learner, mention_bot=True)
            [lesson3] = await discord.wait_for(
                lambda c: "Making Decisions with if" in discord_text(c)
            )
            ts = slack.next_ts()
            await (await slack.deliver(event_callback(mention("what comes after loops?", ts=ts))))
            after = await slack.wait_for(
                lambda: [m for m in slack.messages.values() if "Lesson 6" in m.text]
            )
            await discord.post_message(
                "How do I skip the rest of a loop iteration?", author=learner, mention_bot=True
            )
            # The finished answer: its sources line is written last, under the whole text.
            [content] = await discord.wait_for(
                lambda c: "Sources:" in discord_text(c) and "05-loops.md" in discord_text(c),
                within=ANSWER_WITHIN_S,
            )
            await bot.wait_until(
                lambda: len([r for r in bot.records() if r.get("event") == "reply"]) >= 3,
                within=ANSWER_WITHIN_S,
            )
            replies = [r for r in bot.records() if r.get("event") == "reply"]

    assert "03-conditionals.md" in discord_text(lesson3)
    assert "Functions" in after[0].text
    assert APOLOGY not in discord_text(content)
    assert [r["route"] for r in replies] == ["local", "local", "local"]
    assert [r["model"] for r in replies][:2] == ["course", "course"]
    assert all(r["recorded"] for r in replies)
