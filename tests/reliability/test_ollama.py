"""Ollama down at start-up, dying mid-stream, and coming back."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from bot.core.tutor import APOLOGY, SWITCH_NOTICE
from tests.loopback.discord_server import DiscordServer
from tests.loopback.ollama_server import OllamaServer
from tests.loopback.openai_server import OpenAIServer
from tests.loopback.slack_server import SlackServer, event_callback, mention
from tests.reliability.harness import (
    CLOUD_TEXT,
    DISCORD_TOKEN,
    LOCAL_TEXT,
    environment,
    finished,
    serving,
)
from tests.service_helpers import free_port, write_service_config

COOLDOWN_S = 0.3


async def test_ollama_down_at_start_up_then_back_after_the_cooldown(tmp_path, caplog):
    """Expectation: Ollama unreachable at start-up is one warning naming the fix (no
    traceback) and the service starts anyway; a learner is answered by the next model in
    the chain (the cloud); where the cloud is not allowed (a local-only channel) the
    learner gets a clear apology; every message has its ledger row; once Ollama listens
    again, the circuit breaker lets it answer after its cooldown."""
    caplog.set_level(logging.WARNING)
    port = free_port()
    async with DiscordServer(token=DISCORD_TOKEN) as discord, OpenAIServer() as openai:
        private = discord.text_channel("private")
        config = write_service_config(
            tmp_path,
            openai_url=openai.base_url,
            cooldown_s=COOLDOWN_S,
            extra=f'[privacy]\nlocal_only_channels = ["{private["id"]}"]\n',
        )
        env = environment(tmp_path / "data", discord=discord, ollama_url=f"http://127.0.0.1:{port}")
        async with serving(config, env, discord=discord) as stack:
            ada, bob, cy = (discord.user(n) for n in ("ada", "bob", "cy"))
            await discord.post_message("What is a list?", author=ada, mention_bot=True)
            await discord.wait_for(lambda c: CLOUD_TEXT in str(c.json))
            await discord.post_message(
                "What is a list?", author=bob, channel=private, mention_bot=True
            )
            await discord.wait_for(lambda c: "none of my models is reachable" in str(c.json))

            async with OllamaServer(port=port):
                await asyncio.sleep(COOLDOWN_S * 2)  # the breaker's cooldown passes
                await discord.post_message("What is a list?", author=cy, mention_bot=True)
                await discord.wait_for(lambda c: LOCAL_TEXT in str(c.json))
                await stack.answered(3)
                rows = await stack.rows()

    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.app"]
    assert any("cannot reach Ollama" in m and "ollama serve" in m for m in warnings), warnings
    assert not any(r.exc_info for r in caplog.records if r.levelno >= logging.WARNING)
    assert [row[:3] for row in rows] == [
        ("cloud", "cloud", "fell_back"),
        ("none", "local", "failed"),
        ("local", "local", "answered"),
    ]
    assert "escalate:local-failed" in json.loads(rows[0][3])
    assert "privacy:local-only-channel" in json.loads(rows[1][3])
    assert APOLOGY.startswith("Sorry, I can't answer right now")


@pytest.mark.parametrize("failure", ["connection-dies", "error-line"])
async def test_ollama_failing_mid_stream_hands_the_answer_to_the_next_model(tmp_path, failure):
    """Expectation: when Ollama dies (or reports an error) after streaming a few words,
    the learner sees those words withdrawn with a notice and the next local model's full
    answer instead; the ledger row names the model that answered and why; after the
    cooldown the first model answers again."""
    async with (
        SlackServer() as slack,
        OllamaServer() as first,
        OllamaServer() as second,
    ):
        second.behaviour.text = "Tuples never change once made."
        if failure == "connection-dies":
            first.behaviour.drop_after = 2
        else:
            first.behaviour.error_after = 2
        config = write_service_config(
            tmp_path,
            chain=["default", "backup"],
            cooldown_s=COOLDOWN_S,
            extra=f"""
            [models.backup]
            provider = "ollama"
            model = "llama3.2:3b"
            host = "{second.url}"
            first_token_timeout_s = 30.0
            timeout_s = 60.0
            """,
        )
        env = environment(tmp_path / "data", slack=slack, ollama_url=first.url)
        async with serving(config, env) as stack:
            ts = slack.next_ts()
            await (await slack.deliver(event_callback(mention("What is a tuple?", ts=ts))))
            await slack.wait_for(lambda: finished(slack, ts, "Tuples never change"))
            thread = [m.text for m in slack.thread("C0COURSE", ts)]

            first.behaviour.drop_after = first.behaviour.error_after = None
            await asyncio.sleep(COOLDOWN_S * 2)
            again = slack.next_ts()
            await (await slack.deliver(event_callback(mention("And a list?", ts=again))))
            await slack.wait_for(lambda: finished(slack, again, LOCAL_TEXT))
            await stack.answered(2)
            rows = await stack.rows()

    streams = [c.args.get("markdown_text", "") for c in slack.calls_to("chat.startStream")]
    assert streams[0].startswith("A")  # the first model's words did reach the learner ...
    assert not any(text.startswith("A") for text in thread)  # ... and were withdrawn
    assert thread[0] == f"_{SWITCH_NOTICE}_"
    assert "Tuples never change once made." in thread[-1]
    assert [row[:3] for row in rows] == [
        ("backup", "local", "fell_back"),
        ("local", "local", "answered"),
    ]
    reasons = json.loads(rows[0][3])
    assert any(r.startswith("failover:local:") for r in reasons), reasons
    assert [m.text for m in slack.thread("C0COURSE", again)] == ["A list is an ordered collection."]
