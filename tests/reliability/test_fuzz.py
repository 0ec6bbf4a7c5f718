"""A fuzzed corpus of hostile input through the core and both adapters (hypothesis).

The model is the worst case: it echoes its whole prompt (instructions, history, the
question), so anything that leaked into a prompt, and any ping the learner typed, would
reach the wire unless the core and the adapters stop it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import BotApp
from bot.config import load_config
from bot.events import ChatMessage, IncomingMessage
from bot.models.base import StreamingModel
from bot.ports import Generation, GenerationParams, StreamEvent, TextDelta
from tests.loopback.discord_server import DiscordServer
from tests.loopback.slack_server import SlackServer, direct_message, event_callback, mention
from tests.reliability.corpus import DISCORD_PINGS, SECRET, SLACK_PINGS, discord_texts, texts
from tests.reliability.harness import DISCORD_TOKEN, environment, serving
from tests.service_helpers import write_service_config
from tests.slack_helpers import SIGNING_SECRET, running

T = TypeVar("T")
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def fuzz(strategy: st.SearchStrategy[T], check: Callable[[T], Awaitable[None]]) -> None:
    """Run ``check`` on this event loop for each example hypothesis draws (and shrinks).

    Hypothesis drives from a worker thread, so the servers and the bot started by the
    test keep running on this loop across examples.
    """
    loop = asyncio.get_running_loop()

    @FUZZ
    @given(strategy)
    def example(value: T) -> None:
        asyncio.run_coroutine_threadsafe(check(value), loop).result(timeout=120)

    await asyncio.to_thread(example)


class EchoModel(StreamingModel):
    """Answers with every instruction and learner message in its prompt, in four pieces.

    (Its own past answers are left out: echoing them would double each answer's length.)
    """

    provider = "fake"

    def __init__(self, name: str, *, is_local: bool = True) -> None:
        self.name = name
        self.is_local = is_local
        self.prompts: list[list[ChatMessage]] = []

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> AsyncIterator[StreamEvent]:
        self.prompts.append(list(messages))
        said = [m.content for m in messages if m.role != "assistant"]
        text = "You said: " + " | ".join(said)
        step = len(text) // 4 + 1
        for i in range(0, len(text), step):
            yield TextDelta(text[i : i + step])
        yield Generation(text, self.name, input_tokens=len(text) // 4, output_tokens=len(text) // 4)


def echo_models() -> dict[str, EchoModel]:
    return {"local": EchoModel("local"), "cloud": EchoModel("cloud", is_local=False)}


def assert_clean_reply(text: str) -> None:
    assert SECRET not in text
    text.encode("utf-8")  # nothing un-encodable leaves the core


@FUZZ
@given(text=texts)
async def test_the_core_answers_anything_and_keeps_learners_apart(tmp_path_factory, text):
    """Expectation: whatever a learner sends (empty, 100,000 characters, NUL bytes, lone
    surrogates, zero-width and right-to-left characters, nested fences, mention floods,
    injections asking for another learner's data), the core answers without raising,
    records a ledger row, and no other learner's words are in the prompt or the reply."""
    folder = tmp_path_factory.mktemp("core")
    config = write_service_config(folder)
    models = echo_models()
    async with BotApp(load_config(config, {"TUTOR_DATA_DIR": str(folder)}), models=models) as app:
        alice = IncomingMessage(f"My password is {SECRET}.", user="U0ALICE", channel="C1")
        await app.tutor.handle(alice)
        before = app.ledger.recorded
        reply = await app.tutor.handle(IncomingMessage(text, user="U0BOB", channel="C1"))
        await app.ledger.flush()
        assert app.ledger.recorded == before + 1
    assert_clean_reply(reply.text)
    for prompt in models["local"].prompts[1:] + models["cloud"].prompts:
        assert not any(SECRET in m.content for m in prompt)


async def test_discord_answers_fuzz_without_pings_crashes_or_leaks(tmp_path, caplog):
    """Expectation: fuzzed mentions on Discord are all answered, nothing the bot sends can
    ping (allowed mentions parse nothing, and no raw @everyone/@here/<@id> in the text),
    no answer is an error notice, nothing is logged as an error, and another learner's
    secret only ever goes back to that learner's channel."""
    caplog.set_level(logging.ERROR)
    async with DiscordServer(token=DISCORD_TOKEN) as discord:
        config = write_service_config(tmp_path)
        env = environment(tmp_path / "data", discord=discord, openai_key=None)
        async with serving(config, env, discord=discord, models=echo_models()) as stack:
            alice, bob = discord.user("alice"), discord.user("bob")
            await discord.post_message(
                f"My password is {SECRET}.", author=alice, channel=discord.general, mention_bot=True
            )
            asked = len(await stack.answered(1))

            async def scenario(batch: list[str]) -> None:
                nonlocal asked
                for text in batch:
                    await discord.post_message(text, author=bob, mention_bot=True)
                asked += len(batch)
                replies = await stack.answered(asked)
                for reply in replies[1:]:
                    assert_clean_reply(reply.text)

            await fuzz(st.lists(discord_texts, min_size=1, max_size=3), scenario)

    assert asked > 60  # every example asked at least once
    writes = [c for c in discord.calls if c.method in ("POST", "PATCH") and c.json is not None]
    assert len(writes) >= asked
    for call in writes:
        body = call.json.get("data", call.json) if call.path.endswith("/callback") else call.json
        content = body.get("content") or ""
        assert not DISCORD_PINGS.search(content), content[:200]
        assert body.get("allowed_mentions", {}).get("parse") == [], call.path
        assert "went wrong" not in content
        if SECRET in content:
            assert call.path.startswith(f"/channels/{discord.general['id']}/")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_slack_answers_fuzz_without_pings_crashes_or_leaks(tmp_path, caplog):
    """Expectation: fuzzed mentions and DMs on Slack are all answered, the wire never
    carries <!channel>, <!here>, <!everyone>, a user group or a user mention as written,
    no answer is an error notice, and another learner's secret stays in her own DM."""
    caplog.set_level(logging.ERROR)
    async with SlackServer() as slack:
        config = write_service_config(tmp_path)
        env = environment(tmp_path / "data", slack=slack, openai_key=None)
        async with serving(config, env, models=echo_models()) as stack:
            secret_dm = direct_message(
                f"My password is {SECRET}.", ts=slack.next_ts(), user="U0ALICE", channel="D0ALICE"
            )
            await (await slack.deliver(event_callback(secret_dm)))
            asked = len(await stack.answered(1))

            async def scenario(batch: list[tuple[str, bool]]) -> None:
                nonlocal asked
                for text, in_dm in batch:
                    ts = slack.next_ts()
                    event = (
                        direct_message(text, ts=ts, user="U0BOB", channel="D0BOB")
                        if in_dm
                        else mention(text, ts=ts, user="U0BOB")
                    )
                    await (await slack.deliver(event_callback(event)))
                asked += len(batch)
                replies = await stack.answered(asked)
                for reply in replies[1:]:
                    assert_clean_reply(reply.text)

            await fuzz(st.lists(st.tuples(texts, st.booleans()), min_size=1, max_size=3), scenario)

    assert asked > 60  # every example asked at least once
    for call in slack.calls:
        wire = json.dumps(call.args, ensure_ascii=False)
        assert not SLACK_PINGS.search(wire), (call.method, wire[:300])
        assert "went wrong" not in wire
        if SECRET in wire:
            assert call.args.get("channel") == "D0ALICE", call.method
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def post_signed_bytes(port: int, body: bytes) -> int:
    timestamp = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers) as r,
    ):
        return r.status


async def test_invalid_utf8_over_slack_http_is_refused_and_serving_goes_on(tmp_path, caplog):
    """Expectation: a signed HTTP request whose body is not valid UTF-8 is refused with a
    4xx (nothing crashes, nothing is answered), and the next valid event is answered."""
    caplog.set_level(logging.ERROR)
    async with SlackServer() as slack:
        settings = load_config(write_service_config(tmp_path), {"TUTOR_DATA_DIR": str(tmp_path)})
        async with (
            BotApp(settings, models=echo_models()) as app,
            running(slack, app.tutor.handle, app.commands, mode="http") as adapter,
        ):
            port = adapter.http_port
            assert port is not None
            bad_ts, good_ts = slack.next_ts(), slack.next_ts()
            bad = json.dumps(event_callback(mention("What is a \x00 list?", ts=bad_ts))).encode()
            bad = bad.replace(b"What is a", b"What \xff\xfe is a")  # not UTF-8 at all
            good = json.dumps(event_callback(mention("What is a list?", ts=good_ts))).encode()
            refused = await post_signed_bytes(port, bad)
            accepted = await post_signed_bytes(port, good)
            await slack.wait_for(lambda: slack.calls_to("chat.startStream"))
            await adapter.drain()
    assert 400 <= refused < 500 and accepted == 200
    assert [c.args.get("thread_ts") for c in slack.calls_to("chat.startStream")] == [good_ts]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
