"""Slack retrying: events redelivered, Web API rate limits, the socket dropped."""

from __future__ import annotations

import asyncio

from tests.loopback.ollama_server import OllamaServer
from tests.loopback.slack_server import Failure, SlackServer, event_callback, mention
from tests.reliability.harness import LOCAL_TEXT, environment, finished, serving
from tests.service_helpers import write_service_config


async def test_an_event_redelivered_while_it_is_answered_is_answered_once(tmp_path):
    """Expectation: Slack redelivers an event (X-Slack-Retry-Num 1..3) while the slow
    answer to it is still being written; every delivery is acknowledged, the learner
    gets one answer, and the ledger one row."""
    async with SlackServer() as slack, OllamaServer() as ollama:
        ollama.behaviour.hold = answering = asyncio.Event()  # until every delivery is in
        config = write_service_config(tmp_path, chain=["default"])
        env = environment(tmp_path / "data", slack=slack, ollama_url=ollama.url)
        async with serving(config, env) as stack:
            ts = slack.next_ts()
            body = event_callback(mention("What is a list?", ts=ts))
            acks = [await slack.deliver(body)]
            for attempt, reason in enumerate(("timeout", "http_timeout", "http_error"), 1):
                acks.append(await slack.deliver(body, retry_attempt=attempt, retry_reason=reason))
            for ack in acks:
                await ack
            answering.set()
            await slack.wait_for(lambda: finished(slack, ts, LOCAL_TEXT))
            [reply] = await stack.answered(1)
            rows = await stack.rows()

    assert len(slack.acks) == 4
    assert [m.text for m in slack.thread("C0COURSE", ts)] == [LOCAL_TEXT]
    assert len(ollama.requests) == 2  # the warm-up preload and one answer
    assert [row[:3] for row in rows] == [("local", "local", "answered")]
    assert reply.outcome == "answered"


async def test_web_api_rate_limits_are_waited_out_and_the_answer_arrives_once(tmp_path):
    """Expectation: when Slack answers the streaming calls with 429 and Retry-After, the
    SDK waits and retries; the answer arrives once and whole, recorded once."""
    async with SlackServer() as slack, OllamaServer() as ollama:
        limited = Failure(429, "ratelimited", {"Retry-After": "0"})
        slack.fail("chat.startStream", limited)
        slack.fail("chat.stopStream", limited, limited)
        config = write_service_config(tmp_path, chain=["default"])
        env = environment(tmp_path / "data", slack=slack, ollama_url=ollama.url)
        async with serving(config, env) as stack:
            ts = slack.next_ts()
            await (await slack.deliver(event_callback(mention("What is a list?", ts=ts))))
            await slack.wait_for(lambda: finished(slack, ts, LOCAL_TEXT))
            await stack.answered(1)
            rows = await stack.rows()

    assert [m.text for m in slack.thread("C0COURSE", ts)] == [LOCAL_TEXT]
    assert len(slack.calls_to("chat.startStream")) == 2  # one 429, one retry
    assert len(slack.calls_to("chat.stopStream")) == 3  # two 429s, one retry
    assert [row[:3] for row in rows] == [("local", "local", "answered")]


async def test_a_dropped_socket_mode_connection_is_reopened(tmp_path):
    """Expectation: when Slack closes the Socket Mode WebSocket, the SDK opens a new one
    (apps.connections.open again) and the next event is answered."""
    async with SlackServer() as slack, OllamaServer() as ollama:
        config = write_service_config(tmp_path, chain=["default"])
        env = environment(tmp_path / "data", slack=slack, ollama_url=ollama.url)
        async with serving(config, env) as stack:
            await slack.drop()
            ts = slack.next_ts()
            await (await slack.deliver(event_callback(mention("Still there?", ts=ts))))
            await slack.wait_for(lambda: finished(slack, ts, LOCAL_TEXT))
            await stack.answered(1)

    assert slack.connections == 2
    assert len(slack.calls_to("apps.connections.open")) == 2
