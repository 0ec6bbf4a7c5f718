"""The Slack adapter with slack-bolt and slack_sdk running for real against a loopback Slack.

Events arrive over the Socket Mode WebSocket (or signed HTTP requests); everything the bot
sends goes over the wire to the loopback Web API, where the tests read it back.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import types
from urllib.parse import urlencode

import aiohttp
import pytest

from adapters.slack.bot import SlackAdapter, SlackOptions, SlackStartError
from bot.config import load_config
from bot.core.commands import Commands
from bot.core.tutor import HOLDING_NOTE, Tutor
from bot.events import Attachment, Citation, ContextLine, IncomingMessage, Outbound, Reply
from bot.models.registry import ModelRegistry
from tests.adapters.shipped import LONG_ANSWER, shipped_tutor
from tests.conftest import TEST_CONFIG, write_config
from tests.fakes import FakeChatModel, ListLedger, Script
from tests.loopback import PATIENCE_S
from tests.loopback.slack_server import (
    BOT_ID,
    BOT_USER,
    TEAM,
    Failure,
    SlackServer,
    direct_message,
    event_callback,
    mention,
    slash_command,
)
from tests.slack_helpers import (
    JsonPreferences,
    RecordingCommands,
    ScriptedCore,
    running,
    signed_headers,
)

CHANNEL = "C0COURSE"
LEARNER = "U0LEARNER"
PINGS = ("<!channel>", "<!here>", "<!everyone>", "<@U0OTHER>", "<!subteam^S0TEAM>")


@pytest.fixture
async def slack():
    async with SlackServer() as server:
        yield server


async def answered(server: SlackServer, bot: SlackAdapter, channel: str, thread_ts: str | None):
    """The bot's messages in a thread, once its answer there has started and finished."""
    await server.wait_for(lambda: server.thread(channel, thread_ts))
    await bot.drain()
    return server.thread(channel, thread_ts)


async def ask(server: SlackServer, text: str, **kw) -> str:
    """Deliver a mention over the WebSocket; returns its ts (the thread it starts)."""
    ts = server.next_ts()
    ack = await (await server.deliver(event_callback(mention(text, ts=ts, **kw))))
    assert ack.payload is None  # an Events API ack carries no payload
    return ts


# --- conversations -------------------------------------------------------------------------


async def test_a_mention_is_answered_in_a_thread_with_native_streaming(slack):
    core = ScriptedCore(
        "A **list** keeps items in order. Use `append` to add one.",
        citations=[Citation("lessons/03-lists.md", "Lists", 0.91)],
    )
    async with running(slack, core) as bot:
        ts = await ask(slack, "What is a list?")
        [answer] = await answered(slack, bot, CHANNEL, ts)

    assert answer.thread_ts == ts
    assert answer.text == "A **list** keeps items in order. Use `append` to add one."
    assert "Sources: [1] Lists (lessons/03-lists.md)" in json.dumps(answer.blocks)
    start = slack.calls_to("chat.startStream")[0].args
    assert start["thread_ts"] == ts
    assert start["recipient_user_id"] == LEARNER and start["recipient_team_id"] == TEAM
    assert slack.calls_to("chat.stopStream")
    assert not slack.calls_to("chat.postMessage")
    [msg] = core.messages
    assert msg.text == "What is a list?"  # the bot's own mention is stripped
    assert (msg.platform, msg.workspace, msg.channel, msg.user) == ("slack", TEAM, CHANNEL, LEARNER)
    assert msg.conversation == ts and not msg.is_dm


async def test_a_mention_inside_a_thread_stays_in_it_and_brings_the_thread_along(slack):
    root = slack.add_message(CHANNEL, "Why does my loop never end?", user="U0ASKER")
    slack.add_message(CHANNEL, "Maybe `i` is never incremented", user="U0PEER", thread_ts=root.ts)
    core = ScriptedCore("Check the loop condition.")
    async with running(slack, core) as bot:
        ts = await ask(slack, "can you help?", thread_ts=root.ts)
        await answered(slack, bot, CHANNEL, root.ts)

    assert slack.thread(CHANNEL, ts) == []  # nothing started a new thread
    [msg] = core.messages
    assert msg.conversation == root.ts
    assert msg.text == "can you help?"  # the learner's words; the thread is context
    assert msg.context == (
        ContextLine("U0ASKER", "Why does my loop never end?"),
        ContextLine("U0PEER", "Maybe `i` is never incremented"),
    )


async def test_thread_talk_does_not_change_how_the_question_is_routed(slack, tmp_path):
    """1,500 characters of other people's talk stay out of the learner's text, so the
    router's rules (over 600 characters of prose go to the cloud) see the question alone."""
    config = TEST_CONFIG.replace("max_input_chars = 500", "max_input_chars = 8000")
    settings = load_config(write_config(tmp_path, config), {})
    question = "why does my loop never stop?"
    answer = "Your loop stops only when its condition becomes false: check how `i` changes."
    models = {
        "local": FakeChatModel("local", Script(answer)),
        "cloud": FakeChatModel("cloud", Script("cloud answer"), is_local=False),
    }
    tutor = Tutor(settings, ModelRegistry(settings, models=models))
    handled: list[tuple[IncomingMessage, Reply]] = []

    async def handle(msg, sink):
        reply = await tutor.handle(msg, sink)
        handled.append((msg, reply))
        return reply

    root = slack.add_message(CHANNEL, "My loop runs forever. " * 10, user="U0ASKER")
    for i in range(6):
        peer = f"U0PEER{i}"
        slack.add_message(
            CHANNEL, f"Idea {i}: print i each time. " * 8, user=peer, thread_ts=root.ts
        )
    async with running(slack, handle) as bot:
        await answered(slack, bot, CHANNEL, await ask(slack, question))
        await ask(slack, question, thread_ts=root.ts)
        await answered(slack, bot, CHANNEL, root.ts)

    (alone, alone_reply), (in_thread, thread_reply) = handled
    assert in_thread.text == alone.text == question
    assert alone.context == () and sum(len(line.text) for line in in_thread.context) >= 1500
    assert [line.author for line in in_thread.context] == ["U0ASKER"] + [
        f"U0PEER{i}" for i in range(6)
    ]
    assert (thread_reply.route, thread_reply.reasons) == (alone_reply.route, alone_reply.reasons)
    assert thread_reply.route == "local" and not models["cloud"].calls
    # The model still reads the thread, apart from the question.
    prompt = "\n".join(m.content for m in models["local"].calls[-1])
    assert "U0PEER5: Idea 5: print i each time." in prompt and question in prompt


async def test_a_direct_message_is_answered_in_the_dm_as_markdown(slack):
    core = ScriptedCore("Use **for** loops; see [the docs](https://docs.python.org/3/).")
    async with running(slack, core) as bot:
        ts = slack.next_ts()
        await (await slack.deliver(event_callback(direct_message("how do I loop?", ts=ts))))
        [answer] = await answered(slack, bot, "D0LEARNER", None)

    # Slack renders standard Markdown in markdown_text: the answer goes out as written.
    assert answer.text == "Use **for** loops; see the docs (https://docs.python.org/3/)."
    post = slack.calls_to("chat.postMessage")[0].args
    assert post.get("thread_ts") is None and "text" not in post
    [msg] = core.messages
    assert msg.is_dm and msg.channel == "D0LEARNER" and msg.conversation is None


async def test_an_assistant_thread_gets_prompts_a_thinking_status_and_a_streamed_answer(slack):
    async with running(slack, ScriptedCore("Here you go.")):
        thread = slack.next_ts()
        started = {
            "type": "assistant_thread_started",
            "assistant_thread": {
                "user_id": LEARNER,
                "channel_id": "D0LEARNER",
                "thread_ts": thread,
                "context": {},
            },
            "event_ts": thread,
        }
        await (await slack.deliver(event_callback(started)))
        await slack.wait_for(lambda: slack.calls_to("assistant.threads.setSuggestedPrompts"))
        ts = slack.next_ts()
        event = direct_message("quiz me", ts=ts, thread_ts=thread)
        await (await slack.deliver(event_callback(event)))
        await slack.wait_for(lambda: slack.calls_to("chat.stopStream"))

    greeting = slack.calls_to("chat.postMessage")[0].args
    assert greeting["thread_ts"] == thread and "tutor" in greeting["text"]
    prompts = slack.calls_to("assistant.threads.setSuggestedPrompts")[0].args["prompts"]
    assert len(prompts) == 3
    status = slack.calls_to("assistant.threads.setStatus")[0].args
    assert status["thread_ts"] == thread and "thinking" in status["status"]
    assert slack.calls_to("chat.startStream")[0].args["thread_ts"] == thread


@pytest.mark.parametrize(
    "event",
    [
        {"type": "message", "channel_type": "im", "user": "U0BOT2", "bot_id": "B0X", "text": "hi"},
        {"type": "message", "channel_type": "im", "user": BOT_USER, "text": "my own message"},
        {"type": "message", "channel_type": "im", "subtype": "message_changed", "text": "",
         "message": {"user": LEARNER, "text": "edited question"}},
        {"type": "message", "channel_type": "im", "subtype": "bot_message", "bot_id": BOT_ID},
        {"type": "message", "channel_type": "channel", "user": LEARNER, "text": "no mention"},
    ],
    ids=["other-bot", "own-message", "edit", "bot-message", "channel-chatter"],
)  # fmt: skip
async def test_bots_edits_own_messages_and_chatter_are_acknowledged_but_not_answered(slack, event):
    core = ScriptedCore()
    async with running(slack, core) as bot:
        ts = slack.next_ts()
        event = event | {"ts": ts, "channel": event.get("channel", "D0LEARNER"), "team": TEAM}
        await (await slack.deliver(event_callback(event)))
        # A real question afterwards is answered: so the first one was seen and skipped.
        ts2 = await ask(slack, "and this?")
        await answered(slack, bot, CHANNEL, ts2)
    assert [m.text for m in core.messages] == ["and this?"]


async def test_a_retried_event_is_answered_once(slack):
    core = ScriptedCore()
    async with running(slack, core) as bot:
        ts = slack.next_ts()
        body = event_callback(mention("What is a tuple?", ts=ts))
        first = await slack.deliver(body)
        retry = await slack.deliver(body, retry_attempt=1, retry_reason="timeout")
        second = await slack.deliver(body, retry_attempt=2, retry_reason="http_error")
        await asyncio.gather(first, retry, second)  # every delivery is acknowledged
        await answered(slack, bot, CHANNEL, ts)
        # and one more question shows the adapter is still listening, and answers it
        await answered(slack, bot, CHANNEL, await ask(slack, "next"))

    assert [m.text for m in core.messages] == ["What is a tuple?", "next"]
    assert len(slack.thread(CHANNEL, ts)) == 1
    assert len(slack.calls_to("chat.startStream")) == 2


async def test_the_same_message_as_mention_and_dm_event_is_answered_once(slack):
    core = ScriptedCore()
    async with running(slack, core) as bot:
        ts = slack.next_ts()
        dm = direct_message(f"<@{BOT_USER}> hello", ts=ts)
        await (await slack.deliver(event_callback(dm | {"type": "app_mention"})))
        await (await slack.deliver(event_callback(dm)))
        await answered(slack, bot, CHANNEL, await ask(slack, "sentinel"))
    assert [m.text for m in core.messages] == ["hello", "sentinel"]


# --- replies ------------------------------------------------------------------------------


def long_answer() -> str:
    code = "\n".join(f"    total += {i}  # step {i}" for i in range(120))
    prose = " ".join(f"Sentence number {i} explains a little more." for i in range(150))
    return f"{prose}\n\n```python\ndef add():\n{code}\n```\n\n{prose}"


@pytest.mark.parametrize("native", [True, False], ids=["native-stream", "chat-update"])
async def test_a_long_answer_is_split_into_messages_within_slack_limits(native):
    text = long_answer()
    assert len(text) > 12_000
    async with (
        SlackServer(streaming=native) as slack,
        running(slack, ScriptedCore(text), update_interval_s=0.01) as bot,
    ):
        ts = await ask(slack, "explain everything")
        await answered(slack, bot, CHANNEL, ts)
        messages = slack.thread(CHANNEL, ts)

    assert all(len(m.text) <= 3900 for m in messages)
    for m in messages:  # every message renders on its own: code fences are balanced
        assert sum(line.lstrip().startswith("```") for line in m.text.splitlines()) % 2 == 0
    joined = "\n".join(m.text for m in messages)
    positions = [joined.index(f"# step {i}\n") for i in range(119)]
    assert positions == sorted(positions)  # every code line arrived, in order
    assert joined.count("Sentence number 149 explains") == 2
    assert bool(slack.calls_to("chat.postMessage")) is not native  # the fallback posts


@pytest.mark.parametrize("native", [True, False], ids=["native-stream", "chat-update"])
async def test_pings_in_model_output_are_escaped(native):
    answer = "Attention " + " and ".join(PINGS) + ", also @channel and @here, <b>bold</b>."
    async with SlackServer(streaming=native) as slack, running(slack, ScriptedCore(answer)) as bot:
        ts = await ask(slack, "ping everyone")
        [message] = await answered(slack, bot, CHANNEL, ts)

    wire = slack.wire_text()
    for ping in (*PINGS, "@channel", "@here"):
        assert ping not in wire, f"{ping} went out unescaped"
    # Markdown either way: the same characters, a zero-width space breaks each ping.
    visible = message.text.replace("\u200b", "")
    assert "<!channel>" in visible and "@here" in visible and "<b>bold</b>" in visible


async def test_without_native_streaming_the_answer_is_posted_and_edited(slack):
    slack.streaming = False
    core = ScriptedCore("one two three four five")
    async with running(slack, core) as bot:
        ts = await ask(slack, "first")
        await answered(slack, bot, CHANNEL, ts)
        ts2 = await ask(slack, "second")
        [answer] = await answered(slack, bot, CHANNEL, ts2)

    assert answer.text == "one two three four five"
    assert len(slack.calls_to("chat.startStream")) == 1  # tried once for the workspace
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert slack.calls_to("chat.update")  # the answer grew by edits
    updates = [
        c.args["markdown_text"] for c in slack.calls_to("chat.update") if c.args["ts"] == answer.ts
    ]
    assert updates == sorted(updates, key=len) and updates[-1] == answer.text


async def test_a_long_local_answer_streams_on_the_shipped_config_without_a_key(slack, tmp_path):
    """The default install names a cloud fallback but has no key: nothing can take the
    answer over, so it streams (several appends), not one piece at the end."""
    tutor = shipped_tutor(tmp_path / "data")
    async with running(slack, tutor.handle) as bot:
        ts = await ask(slack, "how do lists work?")
        [answer] = await answered(slack, bot, CHANNEL, ts)
    assert answer.text == LONG_ANSWER
    assert len(slack.calls_to("chat.startStream")) == 1
    assert len(slack.calls_to("chat.appendStream")) >= 3


@pytest.mark.parametrize("dm", [False, True], ids=["channel-thread", "top-level-dm"])
async def test_while_an_answer_is_held_back_the_thread_shows_a_status(slack, dm):
    note = "Preparing an answer…"

    async def handler(msg, sink):
        await sink.progress(note)
        await sink.progress(note)  # the same note again: Slack still shows it
        await sink.delta("Checked.")
        return Reply("Checked.", route="local", model="fake")

    async with running(slack, handler) as bot:
        ts = slack.next_ts()
        event = direct_message("question", ts=ts) if dm else mention("question", ts=ts)
        await (await slack.deliver(event_callback(event)))
        await answered(slack, bot, "D0LEARNER" if dm else CHANNEL, None if dm else ts)
    statuses = [c.args for c in slack.calls_to("assistant.threads.setStatus")]
    if dm:  # a top-level DM has no thread to show a status under
        assert statuses == []
    else:
        # Set before the answer's first post, so it never lingers under the answer.
        methods = [c.method for c in slack.calls]
        assert methods.index("assistant.threads.setStatus") < methods.index("chat.startStream")
        assert statuses == [
            {
                "channel_id": CHANNEL,
                "thread_ts": ts,
                "status": "is thinking…",
                "loading_messages": [note],
            }
        ]


async def test_the_tutor_holding_an_answer_for_a_possible_escalation_shows_it(slack, settings):
    """A cloud model could take over (the fake one is configured): the local answer is
    held back until checked, and the thread says meanwhile that one is being prepared."""
    models = {
        "local": FakeChatModel("local", Script("Lists keep their items in order.")),
        "cloud": FakeChatModel("cloud", Script("cloud answer"), is_local=False),
    }
    tutor = Tutor(settings, ModelRegistry(settings, models=models))
    async with running(slack, tutor.handle) as bot:
        ts = await ask(slack, "what is a list?")
        [answer] = await answered(slack, bot, CHANNEL, ts)
    [status] = [c.args for c in slack.calls_to("assistant.threads.setStatus")]
    assert status["thread_ts"] == ts and status["loading_messages"] == [HOLDING_NOTE]
    assert answer.text == "Lists keep their items in order."
    assert not slack.calls_to("chat.appendStream")  # held, then sent in one piece


async def test_a_stream_that_breaks_mid_answer_is_finished_by_editing_it(slack):
    slack.fail("chat.appendStream", Failure(error="message_not_in_streaming_state"))
    async with running(slack, ScriptedCore("one two three four five")) as bot:
        [answer] = await answered(slack, bot, CHANNEL, await ask(slack, "first"))
        await answered(slack, bot, CHANNEL, await ask(slack, "second"))

    assert answer.text == "one two three four five"  # the streamed message, rewritten
    assert [c.args["ts"] for c in slack.calls_to("chat.update")][-1] == answer.ts
    assert len(slack.calls_to("chat.startStream")) == 2  # the next answer streams again


async def test_a_model_switch_mid_answer_replaces_the_streamed_text(slack):
    core = ScriptedCore("the first model says", restart_with="the second model answers")
    async with running(slack, core):
        ts = await ask(slack, "question")
        messages = await slack.wait_for(
            lambda: [m for m in slack.thread(CHANNEL, ts) if "second" in m.text and not m.streaming]
        )

    texts = [m.text for m in slack.thread(CHANNEL, ts)]
    assert texts[0] == "_That answer was interrupted; here it is again._"
    assert messages[-1].text == "the second model answers"
    assert not any("first model" in t for t in texts)


async def test_a_failed_edit_mid_answer_loses_neither_the_answer_nor_the_ledger_row(
    slack, settings
):
    slack.streaming = False
    slack.fail("chat.update", Failure(error="internal_error"), Failure(status=500))
    ledger = ListLedger()
    models = {"local": FakeChatModel("local", Script("one two three four five six"))}
    tutor = Tutor(settings, ModelRegistry(settings, models=models), ledger=ledger)
    async with running(slack, tutor.handle) as bot:
        [answer] = await answered(slack, bot, CHANNEL, await ask(slack, "count"))
    assert answer.text == "one two three four five six"
    assert [row.reply.text for row in ledger.rows] == ["one two three four five six"]


async def test_a_failure_shows_a_friendly_message_and_logs_the_correlation_id(slack, caplog):
    core = ScriptedCore("partial answer", fail=RuntimeError("boom"))
    caplog.set_level(logging.ERROR)
    async with running(slack, core):
        ts = await ask(slack, "break please")
        [message] = await slack.wait_for(
            lambda: [m for m in slack.thread(CHANNEL, ts) if "went wrong" in m.text]
        )
    correlation_id = core.messages[0].correlation_id
    assert f"error id {correlation_id}" in message.text
    assert "partial answer" not in message.text and "boom" not in message.text
    assert any(correlation_id in r.getMessage() and r.exc_info for r in caplog.records)


async def test_learners_asking_too_fast_get_one_polite_ephemeral_notice(slack):
    core = ScriptedCore()
    async with running(slack, core, rate_per_minute=1, rate_burst=1) as bot:
        await answered(slack, bot, CHANNEL, await ask(slack, "one"))
        await ask(slack, "two")
        await ask(slack, "three")  # still too fast: dropped without a second notice
        await slack.wait_for(lambda: slack.calls_to("chat.postEphemeral"))
        await bot.drain()
    assert [m.text for m in core.messages] == ["one"]
    [notice] = slack.calls_to("chat.postEphemeral")
    assert notice.args["user"] == LEARNER and "faster" in notice.args["markdown_text"]
    assert notice.args["thread_ts"]  # shown in the thread the question was asked in


async def test_a_429_from_the_web_api_is_retried_after_retry_after(slack, monkeypatch):
    import slack_sdk.http_retry.builtin_async_handlers as handlers

    waits: list[float] = []

    async def recorded_sleep(seconds: float) -> None:
        waits.append(seconds)

    # The SDK's retry handler sleeps for Retry-After; record it instead of waiting.
    monkeypatch.setattr(handlers, "asyncio", types.SimpleNamespace(sleep=recorded_sleep))
    slack.fail("chat.startStream", Failure(status=429, headers={"Retry-After": "7"}))
    async with running(slack, ScriptedCore("answer after the rate limit")) as bot:
        ts = await ask(slack, "hello")
        [answer] = await answered(slack, bot, CHANNEL, ts)

    assert answer.text == "answer after the rate limit"
    assert len(slack.calls_to("chat.startStream")) == 2  # the 429, then the retry
    assert len(waits) == 1 and 7 <= waits[0] < 8


async def test_send_posts_digests_and_uploads_attachments(slack):
    adapter = SlackAdapter(
        "xoxb-test-token", app_token="xapp-test-token", options=SlackOptions(api_url=slack.api_url)
    )
    try:
        await adapter.send(
            Outbound(
                "slack",
                "C0DIGEST",
                "**Weekly cost**: $1.20 <!channel>",
                (Attachment("cost.png", b"\x89PNG-bytes", "image/png"),),
            )
        )
    finally:
        await adapter.stop()
    [post] = slack.calls_to("chat.postMessage")
    text = post.args["markdown_text"]
    assert post.args["channel"] == "C0DIGEST" and text.startswith("**Weekly cost**")
    assert "<!channel>" not in text
    assert list(slack.uploads.values()) == [b"\x89PNG-bytes"]
    assert slack.calls_to("files.completeUploadExternal")[0].args["channel_id"] == "C0DIGEST"


# --- /tutor --------------------------------------------------------------------------------


async def command(slack: SlackServer, text: str, user: str = LEARNER, channel: str = CHANNEL):
    """Run ``/tutor text`` over Socket Mode; returns the reply sent to its response_url,
    with the Markdown it shows under ``"markdown"``."""
    body = slash_command(slack, text, user=user, channel=channel)
    ack = await (await slack.deliver(body, kind="slash_commands"))
    assert ack.payload is None  # acknowledged at once, answered later
    response_id = body["response_url"].rsplit("/", 1)[1]
    responses = await slack.wait_for(
        lambda: [r for r in slack.responses if r["_id"] == response_id]
    )
    return responses[0] | {"markdown": shown_markdown(responses[0])}


def shown_markdown(response: dict) -> str:
    """What a response_url reply shows: one markdown block, with an escaped text fallback."""
    [block] = response["blocks"]
    assert block["type"] == "markdown"
    assert response["text"] == html.escape(block["text"], quote=False)
    return block["text"]


@pytest.fixture
def tutor_parts(settings, tmp_path):
    """The real core (Tutor + Commands) with fake models and file-backed preferences."""

    def build():
        models = {
            "local": FakeChatModel("local", Script("local answer")),
            "tiny": FakeChatModel("tiny", Script("tiny answer")),
            "cloud": FakeChatModel("cloud", Script("cloud answer"), is_local=False),
        }
        registry = ModelRegistry(settings, models=models)
        preferences = JsonPreferences(tmp_path / "preferences.json")
        tutor = Tutor(settings, registry, preferences=preferences)
        return tutor, Commands(settings, tutor, registry, preferences), models

    return build


async def test_a_non_moderator_is_refused_and_an_admin_is_obeyed(slack, tutor_parts):
    tutor, commands, _ = tutor_parts()
    slack.add_user(LEARNER)
    slack.add_user("U0ADMIN", admin=True)
    async with running(slack, tutor.handle, commands):
        refused = await command(slack, "model set tiny")
        allowed = await command(slack, "model set tiny", user="U0ADMIN")
        again = await command(slack, "model show", user="U0ADMIN")

    assert "only moderators" in refused["markdown"] and refused["response_type"] == "ephemeral"
    assert "now uses `tiny`" in allowed["markdown"]
    assert "`tiny`" in again["markdown"]
    # users.info once per person: the admin's answer is cached
    assert [c.args["user"] for c in slack.calls_to("users.info")] == [LEARNER, "U0ADMIN"]


async def test_configured_moderators_need_no_lookup(slack):
    commands = RecordingCommands()
    async with running(slack, ScriptedCore(), commands, moderators=frozenset({"U0MOD"})):
        await command(slack, "tier set <@U0LEARNER|learner> pro", user="U0MOD")
    [request] = commands.requests
    assert request.is_moderator and request.name == "tier.set"
    assert dict(request.args) == {"user": "U0LEARNER", "tier": "pro"}
    assert not slack.calls_to("users.info")


async def test_model_set_persists_across_a_restart(slack, tutor_parts):
    slack.add_user("U0ADMIN", owner=True)
    tutor, commands, _ = tutor_parts()
    async with running(slack, tutor.handle, commands) as bot:
        result = await command(slack, "model set tiny", user="U0ADMIN")
    assert "now uses `tiny`" in result["markdown"]

    tutor, commands, models = tutor_parts()  # a new process: nothing kept in memory
    async with running(slack, tutor.handle, commands) as bot:
        ts = await ask(slack, "which model are you?")
        [answer] = await answered(slack, bot, CHANNEL, ts)
        why = await command(slack, "why")

    assert answer.text == "tiny answer"
    assert models["tiny"].calls and not models["local"].calls
    assert "**tiny**" in why["markdown"]  # Markdown, which Slack renders itself


async def test_ask_answers_privately_and_other_commands_reach_the_core(slack):
    commands = RecordingCommands("Done: I've forgotten our conversation history.")
    core = ScriptedCore("Private answer.")
    async with running(slack, core, commands):
        asked = await command(slack, "ask what is a dict?")
        forgot = await command(slack, "forget")
        usage = await command(slack, "dance")

    assert asked["markdown"] == "Private answer." and asked["response_type"] == "ephemeral"
    assert core.messages[0].text == "what is a dict?"
    assert forgot["markdown"].startswith("Done") and commands.requests[0].name == "forget"
    assert not commands.requests[0].is_moderator
    assert "I don't know `dance`" in usage["markdown"] and "/tutor" in usage["markdown"]
    assert not slack.calls_to("users.info")  # nobody needed a moderator check


# --- HTTP mode -----------------------------------------------------------------------------


async def post_signed(port: int, body: str, content_type: str, **sign) -> tuple[int, str]:
    """POST a request signed as Slack signs it; returns the status and the body."""
    headers = signed_headers(body, **sign) | {"Content-Type": content_type}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers) as r,
    ):
        return r.status, await r.text()


async def test_http_mode_answers_signed_events_and_refuses_forged_or_stale_ones(slack):
    core = ScriptedCore("Answer over HTTP.")
    async with running(slack, core, mode="http") as bot:
        port = bot.http_port
        ts = slack.next_ts()
        good = json.dumps(event_callback(mention("signed question", ts=ts)))
        forged = json.dumps(event_callback(mention("forged question", ts=slack.next_ts())))
        stale = json.dumps(event_callback(mention("replayed question", ts=slack.next_ts())))
        challenge = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "t"})
        verified = await post_signed(port, challenge, "application/json")
        responses = [
            await post_signed(port, good, "application/json"),
            await post_signed(port, forged, "application/json", secret="wrong-secret"),
            await post_signed(port, stale, "application/json", at=1_000_000_000),
        ]
        await answered(slack, bot, CHANNEL, ts)

    assert [status for status, _ in responses] == [200, 401, 401]
    assert [m.text for m in core.messages] == ["signed question"]
    assert verified == (200, '{"challenge": "c-123"}')  # Slack's check of the request URL


async def test_http_mode_slash_command_is_acknowledged_and_answered_by_response_url(slack):
    commands = RecordingCommands("Privacy on.")
    async with running(slack, ScriptedCore(), commands, mode="http") as bot:
        body = urlencode(slash_command(slack, "privacy on"))
        status, _ = await post_signed(bot.http_port, body, "application/x-www-form-urlencoded")
        [reply] = await slack.wait_for(lambda: slack.responses)

    assert status == 200
    assert shown_markdown(reply) == "Privacy on." and reply["response_type"] == "ephemeral"
    assert commands.requests[0].name == "privacy" and dict(commands.requests[0].args) == {
        "mode": "on"
    }


async def test_run_serves_until_cancelled_then_shuts_down_cleanly(slack):
    core = ScriptedCore("still answered")
    adapter = SlackAdapter(
        "xoxb-test-token",
        app_token="xapp-test-token",
        options=SlackOptions(api_url=slack.api_url, stream_interval_s=0),
    )
    task = asyncio.create_task(adapter.run(core, RecordingCommands()))
    ts = await ask(slack, "before shutdown")
    await slack.wait_for(lambda: core.messages)
    task.cancel()  # what SIGTERM does to `tutor run`
    with pytest.raises(asyncio.CancelledError):
        await task
    [answer] = slack.thread(CHANNEL, ts)  # the answer in progress was finished first
    assert answer.text == "still answered" and not answer.streaming
    await slack.wait_for(lambda: not slack.connected)  # the socket was closed


async def test_a_bad_token_stops_the_start_with_a_clear_error(slack):
    adapter = SlackAdapter(
        "xoxb-revoked", app_token="xapp-test-token", options=SlackOptions(api_url=slack.api_url)
    )
    with pytest.raises(SlackStartError, match="invalid_auth") as error:
        await adapter.run(ScriptedCore(), RecordingCommands())
    assert "xoxb-revoked" not in str(error.value)
    assert not slack.calls_to("apps.connections.open")


# --- limits against floods (finding 7) -----------------------------------------------------


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Whether the server closes the connection (EOF) before PATIENCE_S runs out."""
    try:
        async with asyncio.timeout(PATIENCE_S):
            while await reader.read(1024):
                pass
    except TimeoutError:
        return False
    return True


async def test_http_mode_closes_a_connection_that_trickles_its_headers(slack):
    async with running(slack, ScriptedCore(), mode="http", http_header_timeout_s=0.2) as bot:
        reader, writer = await asyncio.open_connection("127.0.0.1", bot.http_port)
        writer.write(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        await writer.drain()
        closed = await _closed_by_server(reader)
        writer.close()
        # a well-behaved request is still served afterwards
        challenge = json.dumps({"type": "url_verification", "challenge": "c-1", "token": "t"})
        status, _ = await post_signed(bot.http_port, challenge, "application/json")
    assert closed and status == 200


async def test_http_mode_caps_open_connections(slack):
    async with running(slack, ScriptedCore(), mode="http", http_max_connections=2) as bot:
        idle = [await asyncio.open_connection("127.0.0.1", bot.http_port) for _ in range(2)]
        reader, writer = await asyncio.open_connection("127.0.0.1", bot.http_port)
        refused = await _closed_by_server(reader)
        for _, w in [*idle, (reader, writer)]:
            w.close()
    assert refused


class BlockingCore(ScriptedCore):
    """Answers only when released; counts how many answers run at once."""

    def __init__(self) -> None:
        super().__init__("Released.")
        self.release = asyncio.Event()
        self.running = 0
        self.most = 0

    async def __call__(self, msg, sink):
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.release.wait()
            return await super().__call__(msg, sink)
        finally:
            self.running -= 1


async def test_slash_ask_waits_for_a_free_slot(slack):
    core = BlockingCore()
    async with running(slack, core, max_concurrency=1) as bot:
        await ask(slack, "first")
        await slack.wait_for(lambda: core.messages or core.running)
        body = slash_command(slack, "ask second", user="U0OTHER")
        await (await slack.deliver(body, kind="slash_commands"))
        await asyncio.sleep(0.1)  # room for a wrong second answer to start; not a timing check
        started_while_busy = core.running
        core.release.set()
        await slack.wait_for(lambda: slack.responses)
        await bot.drain()
    assert started_while_busy == 1 and core.most == 1


async def test_too_fast_is_told_at_once_even_while_every_slot_is_busy(slack):
    core = BlockingCore()
    async with running(slack, core, max_concurrency=1, rate_per_minute=1, rate_burst=1) as bot:
        await ask(slack, "first", user="U0FIRST")
        await slack.wait_for(lambda: core.running)
        await ask(slack, "one")
        await ask(slack, "two")  # too fast: told so now, not after the busy slot frees
        await slack.wait_for(lambda: slack.calls_to("chat.postEphemeral"))
        core.release.set()
        await bot.drain()
    assert [m.text for m in core.messages] == ["first", "one"]


@pytest.mark.parametrize("native", [True, False], ids=["native-stream", "chat-update"])
async def test_model_chosen_links_show_their_url_not_a_label(native):
    """Finding 8: "[Verify your account](https://...)" must not become a clickable label."""
    answer = (
        "Please [Verify your account](https://evil.example/login)"
        " and <https://evil.example/x|this> now."
    )
    async with SlackServer(streaming=native) as slack, running(slack, ScriptedCore(answer)) as bot:
        ts = await ask(slack, "links")
        [message] = await answered(slack, bot, CHANNEL, ts)
    assert "](https://" not in message.text and "|this>" not in message.text
    assert "Verify your account (https://evil.example/login)" in message.text
    assert "this (https://evil.example/x)" in message.text
