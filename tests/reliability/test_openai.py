"""The OpenAI API answering 429, 500 or nothing at all, while a tier puts the cloud first."""

from __future__ import annotations

import json

from tests.loopback.ollama_server import OllamaServer
from tests.loopback.openai_server import OpenAIServer
from tests.loopback.slack_server import SlackServer, event_callback, mention
from tests.reliability.harness import (
    CLOUD_TEXT,
    LOCAL_TEXT,
    environment,
    finished,
    impatient,
    serving,
)
from tests.service_helpers import write_service_config

NOTICE = "The detailed model is unavailable right now"


async def test_cloud_errors_fall_back_to_a_local_answer_with_a_notice(tmp_path):
    """Expectation: for a 429, a 500 and a first token that never comes, the learner gets
    the local model's answer with a notice that it may be less thorough (never an error),
    each recorded in the ledger as fell_back with the cloud's failure as a reason; once
    the API answers again, the cloud answers."""
    async with SlackServer() as slack, OllamaServer() as ollama, OpenAIServer() as openai:
        config = write_service_config(
            tmp_path,
            openai_url=openai.base_url,
            chain=["fallback", "default"],
            cloud_first=True,
        )
        env = environment(tmp_path / "data", slack=slack, ollama_url=ollama.url)
        async with serving(config, env) as stack:

            async def ask(question: str, expected: str) -> list[str]:
                ts = slack.next_ts()
                await (await slack.deliver(event_callback(mention(question, ts=ts))))
                await slack.wait_for(lambda: finished(slack, ts, expected))
                return [m.text for m in slack.thread("C0COURSE", ts)]

            openai.behaviour.statuses = [429]
            limited = await ask("What is a list?", LOCAL_TEXT)
            openai.behaviour.statuses = [500]
            broken = await ask("What is a list, again?", LOCAL_TEXT)
            openai.behaviour.delay_first = 2.0
            with impatient(stack, "cloud", first_token_s=0.5):
                silent = await ask("And once more: a list?", LOCAL_TEXT)
            openai.behaviour.delay_first = 0.0
            back = await ask("What is a dict?", CLOUD_TEXT)
            await stack.answered(4)
            rows = await stack.rows()

    for thread in (limited, broken, silent):
        assert LOCAL_TEXT in thread[-1] and NOTICE in thread[-1]
        assert "went wrong" not in " ".join(thread)
    assert NOTICE not in back[-1]
    assert [row[:3] for row in rows] == [
        ("local", "local", "fell_back"),
        ("local", "local", "fell_back"),
        ("local", "local", "fell_back"),
        ("cloud", "cloud", "answered"),
    ]
    failures = [
        next(r for r in json.loads(row[3]) if r.startswith("failover:cloud:")) for row in rows[:3]
    ]
    assert failures == [
        "failover:cloud:rate-limited",
        "failover:cloud:server-error",
        "failover:cloud:first-token-timeout",
    ]
    assert all("cloud:failed" in json.loads(row[3]) for row in rows[:3])
