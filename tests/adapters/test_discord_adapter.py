"""The Discord adapter: real discord.py against a loopback Discord (gateway + REST).

The core is the real Tutor and Commands with scripted models (tests/fakes.py); every
assertion is about what the bot sent over the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.discord.bot import DiscordAdapter, DiscordOptions
from bot.core.commands import Commands
from bot.core.tutor import SWITCH_NOTICE, Tutor
from bot.events import (
    Attachment,
    CommandResult,
    ContextLine,
    IncomingMessage,
    Outbound,
    Reply,
)
from bot.models.registry import ModelRegistry
from bot.ports import ModelServerError, Preferences
from tests.adapters.shipped import LONG_ANSWER, shipped_tutor
from tests.fakes import FakeChatModel, Script
from tests.loopback import PATIENCE_S
from tests.loopback.discord_server import EPHEMERAL, MANAGE_GUILD, DiscordServer, RestCall

MESSAGES = r"/channels/\d+/messages"
EDITS = r"/channels/\d+/messages/\d+"


class JsonPreferences:
    """A PreferenceStore kept in a JSON file, so a restarted bot finds its settings."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, Any]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def _save(self, data: dict[str, Any]) -> None:
        self.path.write_text(json.dumps(data))

    async def preferences(self, platform, workspace, channel, user) -> Preferences:
        data = self._load()
        models = data.get("models", {})
        model = models.get(f"{platform}/{workspace}/{channel}") or models.get(
            f"{platform}/{workspace}/*"
        )
        return Preferences(
            tier=data.get("tiers", {}).get(f"{platform}/{workspace}/{user}"), model=model
        )

    async def set_model(self, platform, workspace, channel, model) -> None:
        data = self._load()
        data.setdefault("models", {})[f"{platform}/{workspace}/{channel or '*'}"] = model
        self._save(data)

    async def set_tier(self, platform, workspace, user, tier) -> None:
        data = self._load()
        data.setdefault("tiers", {})[f"{platform}/{workspace}/{user}"] = tier
        self._save(data)

    async def set_local_only(self, platform, workspace, user, local_only) -> None:
        raise NotImplementedError


class Core:
    """The real Tutor and Commands over scripted models."""

    def __init__(self, settings, preferences=None, **answers: Script | list[Script]) -> None:
        self.models = {
            "local": FakeChatModel("local", answers.get("local")),
            "tiny": FakeChatModel("tiny", answers.get("tiny")),
            "cloud": FakeChatModel("cloud", answers.get("cloud"), is_local=False),
        }
        registry = ModelRegistry(settings, models=self.models)
        self.tutor = Tutor(settings, registry, preferences=preferences)
        self.commands = Commands(settings, self.tutor, registry, self.tutor.preferences)
        self.messages: list[IncomingMessage] = []
        self.replies: list[Reply] = []

    async def handle(self, msg, sink):
        self.messages.append(msg)
        reply = await self.tutor.handle(msg, sink)
        self.replies.append(reply)
        return reply


@contextlib.asynccontextmanager
async def running(
    server: DiscordServer, handler, commands, **options: Any
) -> AsyncIterator[DiscordAdapter]:
    options = {"ready_timeout_s": 0.01, "shutdown_grace_s": PATIENCE_S} | options
    adapter = DiscordAdapter(
        server.token,
        DiscordOptions(**options),
        api_base=server.api_base,
        gateway_url=server.gateway_url,
    )
    task = asyncio.create_task(adapter.run(handler, commands))
    try:
        async with asyncio.timeout(PATIENCE_S):
            ready = asyncio.create_task(adapter.ready.wait())
            await asyncio.wait({ready, task}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # raise what stopped it
        yield adapter
    finally:
        await adapter.close()
        await task


@pytest.fixture
async def server():
    async with DiscordServer() as s:
        yield s


@pytest.fixture
def learner(server):
    return server.user("ada")


def content(call: RestCall) -> str:
    body = call.json if isinstance(call.json, dict) else {}
    if call.path.endswith("/callback"):
        body = body.get("data") or {}
    return body.get("content") or ""


def bot_writes(server: DiscordServer) -> list[RestCall]:
    """Every message the bot created or edited, in order."""
    return [
        c
        for c in server.calls
        if (c.matches("POST", MESSAGES) or c.matches("PATCH", EDITS)) and c.status == 200
    ]


def shown(server: DiscordServer, channel_id: str) -> list[str]:
    """The bot's messages in a channel as learners now see them."""
    return [
        m["content"]
        for m in server.messages.values()
        if m["channel_id"] == channel_id and m["author"]["id"] == server.bot["id"]
    ]


async def answered(server: DiscordServer, text: str, **kw: Any) -> list[RestCall]:
    """Wait until the bot has put ``text`` into a message (sent or edited)."""
    return await server.wait_for(
        lambda c: text in content(c) and c.status == 200 and c.method in ("POST", "PATCH"), **kw
    )


# --- conversations -------------------------------------------------------------------------


async def test_a_mention_is_answered_in_its_channel_as_a_reply(server, learner, settings):
    core = Core(settings, local=Script("A list is an ordered collection."))
    async with running(server, core.handle, core.commands):
        question = await server.post_message(
            "what is a list?", author=learner, channel=server.general, mention_bot=True
        )
        await answered(server, "A list is an ordered collection.")
    first = bot_writes(server)[0]
    assert first.path == f"/channels/{server.general['id']}/messages"
    assert first.json["message_reference"]["message_id"] == int(question["id"])
    assert first.json["allowed_mentions"] == {"parse": [], "replied_user": False}
    assert shown(server, server.general["id"]) == ["A list is an ordered collection."]
    assert shown(server, server.help["id"]) == []
    # The mention is stripped before the question reaches the model.
    assert core.models["local"].calls[0][-1].content == "what is a list?"
    # Minimal intents: guilds, guild messages, DMs, message content; nothing else.
    assert server.identifies[0]["intents"] == (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15)
    assert server.heartbeats >= 1  # answered with HEARTBEAT_ACK


async def test_the_first_part_is_sent_while_the_answer_streams(server, learner):
    go_on = asyncio.Event()

    async def handler(msg, sink):
        await sink.delta("Lists keep")
        await go_on.wait()
        await sink.delta(" their order.")
        return Reply("Lists keep their order.", route="local", model="fake")

    async with running(server, handler, None):
        await server.post_message("lists?", author=learner, mention_bot=True)
        await answered(server, "Lists keep")
        assert [content(c) for c in bot_writes(server)] == ["Lists keep"]
        go_on.set()
        await answered(server, "Lists keep their order.")
    first, final = bot_writes(server)
    (message,) = [m for m in server.messages.values() if m["author"]["id"] == server.bot["id"]]
    assert first.matches("POST", MESSAGES)
    assert final.method == "PATCH" and final.path == f"{first.path}/{message['id']}"
    assert message["content"] == "Lists keep their order."


async def test_a_thread_per_question_and_follow_ups_in_it_keep_context(server, learner, settings):
    core = Core(settings, local=[Script("A list holds items."), Script("Use sorted(items).")])
    help_id = int(server.help["id"])
    async with running(server, core.handle, core.commands, thread_channels=frozenset({help_id})):
        question = await server.post_message("what is a list?", author=learner, mention_bot=True)
        await answered(server, "A list holds items.")
        thread = server.channels[int(question["id"])]
        assert thread["type"] == 11 and thread["name"] == "what is a list?"
        # No mention needed in a thread the bot opened.
        await server.post_message("and how do I sort one?", author=learner, channel=thread)
        await answered(server, "Use sorted(items).")
    assert shown(server, thread["id"]) == ["A list holds items.", "Use sorted(items)."]
    assert shown(server, server.help["id"]) == []
    prompt = [(m.role, m.content) for m in core.models["local"].calls[1]]
    assert prompt[1:] == [
        ("user", "what is a list?"),
        ("assistant", "A list holds items."),
        ("user", "and how do I sort one?"),
    ]
    # One conversation (the thread); channel settings still apply: the core sees the parent.
    assert {(m.channel, m.conversation) for m in core.messages} == {
        (server.help["id"], thread["id"])
    }


async def test_a_reply_to_the_answer_continues_the_conversation(server, learner, settings):
    core = Core(settings, local=[Script("First answer."), Script("Second answer.")])
    async with running(server, core.handle, core.commands):
        await server.post_message("first?", author=learner, mention_bot=True)
        await answered(server, "First answer.")
        answer_id = next(
            m["id"] for m in server.messages.values() if m["content"] == "First answer."
        )
        await server.post_message("why?", author=learner, reply_to=int(answer_id))
        await answered(server, "Second answer.")
        # A fresh mention starts a new conversation.
        await server.post_message("unrelated", author=learner, mention_bot=True)
        await answered(server, "Second answer.", count=2)
    calls = core.models["local"].calls
    assert [m.content for m in calls[1]][1:] == ["first?", "First answer.", "why?"]
    assert [m.content for m in calls[2]][1:] == ["unrelated"]


async def test_a_replied_to_message_is_context_not_the_learners_words(server, learner, settings):
    core = Core(settings, local=Script("That list is missing its closing bracket."))
    peer = server.user("bob")
    async with running(server, core.handle, core.commands):
        quoted = await server.post_message("x = [1, 2\nprint(x)", author=peer)
        await server.post_message(
            "why does this fail?", author=learner, mention_bot=True, reply_to=int(quoted["id"])
        )
        await answered(server, "missing its closing bracket")
    [msg] = core.messages
    assert msg.text == "why does this fail?"
    assert msg.context == (ContextLine(peer["id"], "x = [1, 2\nprint(x)"),)
    prompt = "\n".join(m.content for m in core.models["local"].calls[0])
    assert "x = [1, 2" in prompt  # the model reads the quote, apart from the question
    assert core.models["local"].calls[0][-1].content.endswith("why does this fail?")


async def test_a_direct_message_is_answered(server, learner, settings):
    core = Core(settings, local=Script("Hello in private."))
    dm = server.dm_channel(learner)
    async with running(server, core.handle, core.commands):
        await server.post_message("hi, can you help?", author=learner, channel=dm)
        await answered(server, "Hello in private.")
    assert shown(server, dm["id"]) == ["Hello in private."]


async def test_its_own_and_other_bots_messages_are_ignored(server, learner, settings):
    core = Core(settings, local=Script("Only for the learner."))
    other_bot = server.user("helper", bot=True)
    async with running(server, core.handle, core.commands):
        await server.post_message("talking to myself", author=server.bot, mention_bot=True)
        await server.post_message("hey tutor", author=other_bot, mention_bot=True)
        await server.post_message("hello", author=learner, mention_bot=True)
        await answered(server, "Only for the learner.")
    assert [m.text for m in core.messages] == ["hello"]
    assert len(server.sends()) == 1


async def test_without_message_content_only_mentions_are_read(server, learner, settings):
    core = Core(settings, local=[Script("Answer one."), Script("Answer two.")])
    help_id = int(server.help["id"])
    options = {"thread_channels": frozenset({help_id}), "message_content": False}
    async with running(server, core.handle, core.commands, **options):
        question = await server.post_message("q1", author=learner, mention_bot=True)
        await answered(server, "Answer one.")
        thread = server.channels[int(question["id"])]
        await server.post_message("no mention, no content", author=learner, channel=thread)
        await server.post_message(
            "with a mention", author=learner, channel=thread, mention_bot=True
        )
        await answered(server, "Answer two.")
    assert server.identifies[0]["intents"] & (1 << 15) == 0
    assert [m[-1].content for m in core.models["local"].calls] == ["q1", "with a mention"]


# --- replies -------------------------------------------------------------------------------


# Varied prose: the same sentence again and again is a loop the tutor stops.
VOCABULARY = [
    "lists",
    "tuples",
    "keys",
    "values",
    "order",
    "index",
    "slice",
    "append",
    "insert",
    "remove",
    "sort",
    "copy",
    "nested",
    "loops",
    "range",
    "items",
    "length",
    "empty",
    "mutable",
    "sequence",
    "element",
    "position",
    "reverse",
    "count",
]


def long_answer_with_code() -> str:
    pick = random.Random(5).choice
    prose = " ".join(
        f"Sentence {i} explains {' '.join(pick(VOCABULARY) for _ in range(6))}." for i in range(50)
    )
    code = "\n".join(f"    items.append({i})  # step {i}" for i in range(100))
    block = f"```python\ndef build():\n    items = []\n{code}\n    return items\n```"
    return f"{prose}\n\n{block}\n\nThat is all. The end."


async def test_a_5000_character_answer_with_code_is_split_with_fences_balanced(
    server, learner, settings
):
    text = long_answer_with_code()
    assert 5000 <= len(text) <= 6500
    core = Core(settings, local=Script(text))
    async with running(server, core.handle, core.commands):
        await server.post_message("show me a long example", author=learner, mention_bot=True)
        await answered(server, "The end.")
    parts = shown(server, server.help["id"])
    assert len(parts) >= 3
    assert all(len(p) <= 2000 for p in parts)
    assert all(p.count("```") % 2 == 0 for p in parts)
    # The code block was cut and reopened with its language; nothing was lost.
    cut = [p for p in parts if p.startswith("```python")]
    assert cut, parts
    joined = "\n".join(parts)
    assert all(f"items.append({i})  # step {i}" in joined for i in range(100))
    assert all(f"Sentence {i} explains" in joined for i in range(50))
    # Every write on the wire was accepted (Discord refuses over 2,000 characters).
    assert all(c.status == 200 for c in server.calls if c.method in ("POST", "PATCH"))


async def test_a_very_long_answer_arrives_as_a_file_with_a_summary(server, learner, settings):
    # Long (about 20,000 characters), but not a repetition loop the confidence gate rejects.
    pick = random.Random(7).choice
    words = [pick(VOCABULARY) for _ in range(2400)]
    text = "\n\n".join(
        f"Paragraph {i}. " + " ".join(words[i * 120 : i * 120 + 120]) + "." for i in range(20)
    )
    core = Core(settings, local=Script(text))
    async with running(server, core.handle, core.commands):
        await server.post_message("tell me everything", author=learner, mention_bot=True)
        (call,) = await answered(server, "is in the attached file")
    assert call.files and call.files[0][0] == "answer.md"
    assert call.files[0][1].decode().strip() == text.strip()
    (message,) = shown(server, server.help["id"])
    assert message.startswith("Paragraph 0.") and len(message) <= 2000


async def test_everyone_in_model_output_never_pings(server, learner, settings):
    text = "Hey @everyone and @here, ask <@123456789012345678> or <@&234567890123456789>!"
    core = Core(settings, local=Script(text))
    async with running(server, core.handle, core.commands):
        await server.post_message("ping test", author=learner, mention_bot=True)
        await answered(server, "ask")
        token = await server.interact(["ask"], {"question": "again"}, user=learner)
        await server.wait_for(lambda c: "@original" in c.path and "ask" in content(c))
    writes = bot_writes(server) + server.webhook_calls(token) + server.callbacks(token)
    with_text = [c for c in writes if content(c)]
    assert len(with_text) >= 2  # the mention's answer and the slash command's answer
    for call in with_text:
        body = call.json["data"] if call.path.endswith("callback") else call.json
        assert body["allowed_mentions"]["parse"] == []
    for sent in map(content, with_text):
        assert "@everyone" not in sent and "@here" not in sent
        assert "<@1234" not in sent and "<@&2345" not in sent
    final = [content(c) for c in with_text if "ask" in content(c)]
    assert len(final) == 2 and all("@\u200beveryone" in sent for sent in final)


async def test_a_model_failing_mid_stream_shows_the_notice(server, learner, settings):
    broken = Script("This answer will break", fail=ModelServerError("local", "boom"), fail_after=2)
    core = Core(settings, local=broken, tiny=Script("A complete answer."))
    # Local answers stream only when no cloud model may take over: a local-only learner.
    await core.tutor.preferences.set_local_only(
        "discord", str(server.guild_id), learner["id"], True
    )
    async with running(server, core.handle, core.commands):
        await server.post_message("question", author=learner, mention_bot=True)
        await answered(server, "A complete answer.")
    (message,) = shown(server, server.help["id"])
    assert message.startswith(f"-# {SWITCH_NOTICE}") and message.endswith("A complete answer.")


async def test_a_long_local_answer_streams_on_the_shipped_config_without_a_key(
    server, learner, tmp_path
):
    """The default install names a cloud fallback but has no key: nothing can take the
    answer over, so it streams (several edits), not one send at the end."""
    tutor = shipped_tutor(tmp_path / "data")
    async with running(server, tutor.handle, None, stream_interval_s=0):
        await server.post_message("how do lists work?", author=learner, mention_bot=True)
        await answered(server, "What does `len` tell you afterwards?")
    first, *edits = bot_writes(server)
    assert first.matches("POST", MESSAGES) and LONG_ANSWER.startswith(content(first))
    assert len(edits) >= 3 and all(c.matches("PATCH", EDITS) for c in edits)
    assert shown(server, server.help["id"]) == [LONG_ANSWER]


async def test_while_an_answer_is_held_back_typing_shows_again(server, learner):
    typing = r"/channels/\d+/typing"
    started, release = asyncio.Event(), asyncio.Event()

    async def handler(msg, sink):
        await started.wait()
        await sink.delta("A first draft")  # sent: Discord stops showing "typing"
        await sink.reset("Switching models.")
        await sink.progress("Checking the answer before it is sent…")
        await release.wait()
        return Reply("The checked answer.", route="local", model="fake")

    async with running(server, handler, None):
        await server.post_message("question", author=learner, mention_bot=True)
        await server.wait_for(lambda c: c.matches("POST", typing))
        started.set()
        [draft] = await answered(server, "A first draft")
        after = await server.wait_for(
            lambda c: (
                c.matches("POST", typing) and server.calls.index(c) > server.calls.index(draft)
            )
        )
        release.set()
        await answered(server, "The checked answer.")
    assert after and shown(server, server.help["id"]) == [
        "-# Switching models.\n\nThe checked answer."
    ]


async def test_a_core_failure_gets_a_friendly_message(server, learner):
    async def broken(msg, sink):
        raise RuntimeError("database on fire")

    async with running(server, broken, None):
        await server.post_message("question", author=learner, mention_bot=True)
        (call,) = await answered(server, "something went wrong")
    assert "Traceback" not in content(call) and "fire" not in content(call)
    assert re.search(r"error id [0-9a-f]{12}", content(call))


async def test_typing_shows_while_the_answer_is_prepared(server, learner):
    release = asyncio.Event()

    async def slow(msg, sink):
        await release.wait()
        return Reply("Done thinking.", route="local", model="fake")

    async with running(server, slow, None):
        await server.post_message("hard question", author=learner, mention_bot=True)
        await server.wait_for(lambda c: c.matches("POST", r"/channels/\d+/typing"))
        release.set()
        await answered(server, "Done thinking.")


async def test_a_429_on_send_is_retried_and_the_answer_arrives_once(server, learner, settings):
    core = Core(settings, local=Script("Worth the wait."))
    server.fail_next("POST", MESSAGES, status=429, retry_after=0.05)
    async with running(server, core.handle, core.commands):
        await server.post_message("question", author=learner, mention_bot=True)
        await answered(server, "Worth the wait.")
    posts = [c for c in server.calls if c.matches("POST", MESSAGES)]
    assert [c.status for c in posts] == [429, 200]
    assert posts[0].json == posts[1].json  # the same message, retried
    assert shown(server, server.help["id"]) == ["Worth the wait."]


async def test_close_lets_answers_in_progress_finish(server, learner):
    release = asyncio.Event()
    asked: list[str] = []

    async def slow(msg, sink):
        asked.append(msg.text)
        await release.wait()
        return Reply("Finished before closing.", route="local", model="fake")

    async with running(server, slow, None) as adapter:
        await server.post_message("first", author=learner, mention_bot=True)
        await server.wait_for(lambda c: c.matches("POST", r"/channels/\d+/typing"))
        closing = asyncio.create_task(adapter.close())
        await server.post_message("too late", author=learner, mention_bot=True)
        release.set()
        await closing
    assert shown(server, server.help["id"]) == ["Finished before closing."]
    assert asked == ["first"]


# --- limits --------------------------------------------------------------------------------


async def test_a_learner_asking_too_fast_is_told_so(server, learner, settings):
    core = Core(settings, local=Script("Answer."))
    limits = {"messages_per_minute": 1, "burst": 1}
    async with running(server, core.handle, core.commands, **limits):
        await server.post_message("one", author=learner, mention_bot=True)
        await answered(server, "Answer.")
        second = await server.post_message("two", author=learner, mention_bot=True)
        (notice,) = await answered(server, "faster than I can answer")
        third = await server.post_message("three", author=learner, mention_bot=True)
        (reaction,) = await server.wait_for(lambda c: "/reactions/" in c.path)
        token = await server.interact(["ask"], {"question": "four"}, user=learner)
        (callback,) = await server.wait_for(lambda c: c.path.endswith("callback"))
    assert notice.json["message_reference"]["message_id"] == int(second["id"])
    assert reaction.path.startswith(f"/channels/{server.help['id']}/messages/{third['id']}/")
    assert callback.json["type"] == 4 and callback.json["data"]["flags"] == EPHEMERAL
    assert "faster than I can answer" in content(callback)
    assert token in callback.path
    assert len(core.replies) == 1  # the model was asked once


async def test_generations_beyond_the_cap_wait_their_turn(server, settings):
    release = asyncio.Event()
    started: list[str] = []

    async def blocking(msg, sink):
        started.append(msg.text)
        await release.wait()
        return Reply(f"answer to {msg.text}", route="local", model="fake")

    ada, bob = server.user("ada"), server.user("bob")
    async with running(server, blocking, None, max_concurrent=1):
        await server.post_message("first", author=ada, mention_bot=True)
        await server.wait_for(lambda c: c.matches("POST", r"/channels/\d+/typing"))
        await server.post_message("second", author=bob, mention_bot=True)
        # Bob sees "typing" while he waits, but his question has not reached the model.
        await server.wait_for(lambda c: c.matches("POST", r"/channels/\d+/typing"), count=2)
        assert started == ["first"]
        release.set()
        await answered(server, "answer to second")
    assert started == ["first", "second"]


# --- slash commands ------------------------------------------------------------------------


async def test_slash_ask_defers_then_shows_the_answer(server, learner, settings):
    core = Core(settings, local=Script("Tuples are immutable."))
    async with running(server, core.handle, core.commands):
        token = await server.interact(["ask"], {"question": "tuples?"}, user=learner)
        await server.wait_for(
            lambda c: c.method == "PATCH" and content(c) == "Tuples are immutable."
        )
    (callback,) = server.callbacks(token)
    assert callback.json["type"] == 5  # deferred: the answer may take a while
    assert core.models["local"].calls[0][-1].content == "tuples?"


async def test_a_non_moderator_is_refused_model_set(server, learner, settings, caplog):
    core = Core(settings)
    caplog.set_level(logging.INFO)
    async with running(server, core.handle, core.commands):
        token = await server.interact(["model", "set"], {"model": "tiny"}, user=learner)
        (callback,) = await server.wait_for(lambda c: token in c.path)
    assert callback.json["type"] == 4
    assert callback.json["data"]["flags"] == EPHEMERAL
    assert "only moderators" in content(callback)
    assert any(
        "refused model.set" in r.getMessage() and learner["id"] in r.getMessage()
        for r in caplog.records
    )
    prefs = await core.tutor.preferences.preferences(
        "discord", str(server.guild_id), server.help["id"], learner["id"]
    )
    assert prefs.model is None


async def test_manage_server_or_a_configured_role_makes_a_moderator(server, learner, settings):
    core = Core(settings)
    mentor = server.mentor_role["id"]
    async with running(server, core.handle, core.commands, moderator_role_ids={int(mentor)}):
        by_role = await server.interact(
            ["model", "set"], {"model": "tiny"}, user=learner, roles=[mentor]
        )
        by_permission = await server.interact(
            ["model", "set"],
            {"model": "cloud", "scope": "server"},
            user=server.user("owner"),
            permissions=MANAGE_GUILD,
        )
        await server.wait_for(lambda c: c.path.endswith("callback"), count=2)
    for token, text in ((by_role, "now uses `tiny`"), (by_permission, "now uses `cloud`")):
        (callback,) = server.callbacks(token)
        assert text in content(callback)
        assert not callback.json["data"].get("flags", 0) & EPHEMERAL  # announced to the channel


async def test_model_set_persists_across_a_restart(server, learner, settings, tmp_path):
    store = tmp_path / "prefs.json"
    moderator = server.user("mod")
    core = Core(settings, JsonPreferences(store))
    async with running(server, core.handle, core.commands):
        token = await server.interact(
            ["model", "set"], {"model": "tiny"}, user=moderator, permissions=MANAGE_GUILD
        )
        await server.wait_for(lambda c: token in c.path)
    # A new process: new core, new client, the same preference file.
    core = Core(settings, JsonPreferences(store), tiny=Script("Tiny answers now."))
    async with running(server, core.handle, core.commands):
        await server.post_message("who answers?", author=learner, mention_bot=True)
        await answered(server, "Tiny answers now.")
        token = await server.interact(["model", "show"], user=moderator, permissions=MANAGE_GUILD)
        (show,) = await server.wait_for(lambda c: token in c.path)
    assert len(server.identifies) == 2
    assert core.replies[0].model == "tiny" and core.models["local"].calls == []
    assert "`tiny` first" in content(show)


async def test_model_autocomplete_lists_models_with_their_health(server, learner, settings):
    core = Core(settings)
    async with running(server, core.handle, core.commands):
        token = await server.interact(
            ["model", "set"],
            {"model": "t"},
            user=learner,
            autocomplete="model",
            permissions=MANAGE_GUILD,
        )
        (callback,) = await server.wait_for(lambda c: token in c.path)
    assert callback.json["type"] == 8
    choices = callback.json["data"]["choices"]
    assert [c["value"] for c in choices] == ["tiny"]
    assert choices[0]["name"] == "tiny: embedded smollm2-135m (local, ok)"


async def test_everyday_commands_answer_only_the_caller(server, learner, settings):
    core = Core(settings, local=Script("Sure."))
    async with running(server, core.handle, core.commands):
        await server.post_message("hi", author=learner, mention_bot=True)
        await answered(server, "Sure.")
        tokens = [
            await server.interact(["why"], user=learner),
            await server.interact(["privacy"], {"mode": "on"}, user=learner),
            await server.interact(["forget"], user=learner),
        ]
        await server.wait_for(lambda c: c.path.endswith("callback"), count=3)
    why, privacy, forget = (server.callbacks(t)[0] for t in tokens)
    assert "Your last answer came from **local**" in content(why)
    assert "Privacy on" in content(privacy) and "forgotten" in content(forget)
    assert all(c.json["data"]["flags"] == EPHEMERAL for c in (why, privacy, forget))
    prefs = await core.tutor.preferences.preferences(
        "discord", str(server.guild_id), server.help["id"], learner["id"]
    )
    assert prefs.local_only


async def test_a_moderator_sets_a_learners_tier(server, learner, settings):
    core = Core(settings)
    async with running(server, core.handle, core.commands):
        token = await server.interact(
            ["tier", "set"],
            {"learner": learner, "tier": "enterprise"},
            user=server.user("mod"),
            permissions=MANAGE_GUILD,
        )
        (callback,) = await server.wait_for(lambda c: token in c.path)
    assert f"Learner {learner['id']} is now on the enterprise tier." in content(callback)
    prefs = await core.tutor.preferences.preferences(
        "discord", str(server.guild_id), server.help["id"], learner["id"]
    )
    assert prefs.tier == "enterprise"


async def test_slow_commands_defer_and_follow_up_with_files(server, learner, settings):
    png = Attachment("cost.png", b"\x89PNG\r\n\x1a\nfake", "image/png")

    async def cost(req, period):
        return CommandResult(f"Costs for the {period}: $0.42", attachments=(png,))

    core = Core(settings)
    core.commands.cost_hook = cost
    async with running(server, core.handle, core.commands):
        token = await server.interact(
            ["cost"], {"period": "day"}, user=learner, permissions=MANAGE_GUILD
        )
        (followup,) = await server.wait_for(
            lambda c: token in c.path and c.path.startswith("/webhooks/")
        )
    (callback,) = server.callbacks(token)
    assert callback.json["type"] == 5 and callback.json["data"]["flags"] == EPHEMERAL
    assert "Costs for the day: $0.42" in content(followup)
    assert followup.files == [("cost.png", png.data)]


COMMANDS = r"/applications/\d+(/guilds/\d+)?/commands"


def command_calls(server: DiscordServer, method: str) -> list[RestCall]:
    return [c for c in server.calls if c.matches(method, COMMANDS)]


async def test_commands_register_themselves_and_a_restart_does_not_redo_it(server, settings):
    core = Core(settings)
    async with running(server, core.handle, core.commands):
        pass
    (tutor,) = server.synced["global"]  # a new install: /tutor with no config edit
    assert tutor["name"] == "tutor"
    names = {option["name"] for option in tutor["options"]}
    assert names == {
        *("ask", "forget", "privacy", "why", "model", "tier", "cost", "reindex", "faq"),
        *("hint", "human", "mode", "offtopic", "insights"),
    }
    assert len(command_calls(server, "GET")) == len(command_calls(server, "PUT")) == 1

    async with running(server, core.handle, core.commands):  # the same commands again
        pass
    assert len(server.identifies) == 2
    assert len(command_calls(server, "GET")) == 2 and len(command_calls(server, "PUT")) == 1


async def test_changed_commands_are_registered_again(server, settings):
    core = Core(settings)
    async with running(server, core.handle, core.commands):
        pass
    # An older release registered /tutor without `why`.
    tutor = server.synced["global"][0]
    tutor["options"] = [o for o in tutor["options"] if o["name"] != "why"]
    async with running(server, core.handle, core.commands):
        pass
    assert len(command_calls(server, "PUT")) == 2
    assert "why" in {option["name"] for option in server.synced["global"][0]["options"]}


async def test_commands_are_synced_to_a_test_guild_when_asked(server, settings):
    core = Core(settings)
    guild = str(server.guild_id)
    for _ in range(2):
        async with running(server, core.handle, core.commands, sync_commands=guild):
            pass
    (tutor,) = server.synced[guild]
    assert tutor["name"] == "tutor"
    names = {option["name"] for option in tutor["options"]}
    assert names == {
        *("ask", "forget", "privacy", "why", "model", "tier", "cost", "reindex", "faq"),
        *("hint", "human", "mode", "offtopic", "insights"),
    }
    assert "global" not in server.synced
    puts = command_calls(server, "PUT")
    assert len(puts) == 1 and puts[0].path.endswith(f"/guilds/{guild}/commands")


async def test_commands_are_left_alone_when_sync_is_off(server, settings):
    core = Core(settings)
    async with running(server, core.handle, core.commands, sync_commands="off"):
        pass
    assert command_calls(server, "GET") == command_calls(server, "PUT") == []


# --- operations ----------------------------------------------------------------------------


async def test_outbound_digests_are_posted_with_their_chart(server, settings):
    core = Core(settings)
    chart = Attachment("digest.png", b"\x89PNG\r\n\x1a\nchart", "image/png")
    async with running(server, core.handle, core.commands) as adapter:
        await adapter.send(
            Outbound("discord", server.general["id"], "Weekly digest @everyone", (chart,))
        )
    (post,) = server.sends(server.general)
    assert post.files == [("digest.png", chart.data)]
    assert post.json["allowed_mentions"]["parse"] == []
    assert "@\u200beveryone" in post.json["content"]


async def test_a_wrong_token_stops_with_a_clear_error(server, settings):
    adapter = DiscordAdapter(
        "not-the-token", api_base=server.api_base, gateway_url=server.gateway_url
    )
    core = Core(settings)
    import discord

    with pytest.raises(discord.LoginFailure):
        await adapter.run(core.handle, core.commands)
    assert not server.identifies


# --- who may do what (finding 2) ---------------------------------------------------------


async def test_a_role_named_like_the_moderator_role_is_not_one(server, learner, settings):
    """Anyone can create a role called "Mentor"; only the configured role id counts."""
    core = Core(settings)
    mentor = server.mentor_role["id"]
    async with running(server, core.handle, core.commands, moderator_role_ids=(int(mentor),)):
        by_id = await server.interact(
            ["model", "set"], {"model": "tiny"}, user=learner, roles=[mentor]
        )
        (callback,) = await server.wait_for(lambda c: by_id in c.path)
        assert "now uses `tiny`" in content(callback)
    async with running(server, core.handle, core.commands, moderator_role_ids=(1234,)):
        by_name = await server.interact(
            ["model", "set"], {"model": "cloud"}, user=learner, roles=[mentor]
        )
        (callback,) = await server.wait_for(lambda c: by_name in c.path)
        assert "only moderators" in content(callback)


async def test_servers_outside_the_allowlist_are_ignored_and_logged(
    server, learner, settings, caplog
):
    core = Core(settings, local=Script("An answer."))
    caplog.set_level(logging.INFO)
    async with running(server, core.handle, core.commands, guilds=frozenset({42})):
        await server.post_message("hello?", author=learner, mention_bot=True)
        token = await server.interact(
            ["model", "set"],
            {"model": "cloud", "scope": "server"},
            user=server.user("owner"),
            permissions=MANAGE_GUILD,
        )
        (callback,) = await server.wait_for(lambda c: token in c.path)
    assert "not served here" in content(callback)
    assert core.messages == []  # the mention never reached the tutor
    assert f"server {server.guild_id} is not in [discord] guilds" in caplog.text
    prefs = await core.tutor.preferences.preferences(
        "discord", str(server.guild_id), server.help["id"], learner["id"]
    )
    assert prefs.model is None


def followup(token: str):
    return lambda c: token in c.path and c.path.startswith("/webhooks/")


async def test_only_configured_operators_may_reindex(server, learner, settings):
    core = Core(settings)
    owner = server.user("owner")
    async with running(server, core.handle, core.commands, operator_ids=frozenset()):
        token = await server.interact(["reindex"], user=owner, permissions=MANAGE_GUILD)
        (refused,) = await server.wait_for(followup(token))
    async with running(
        server, core.handle, core.commands, operator_ids=frozenset({int(owner["id"])})
    ):
        token = await server.interact(["reindex"], user=owner)
        (allowed,) = await server.wait_for(followup(token))
    assert "only the bot's operators" in content(refused)
    assert "only the bot's operators" not in content(allowed)


SUPPRESS_EMBEDS = 1 << 2


async def test_answers_never_unfurl_links_and_show_plain_urls(server, learner, settings):
    """Finding 8: a model-chosen URL must not unfurl (a way to exfiltrate) nor hide behind
    a label."""
    text = "See [the docs](https://evil.example/?q=secret) for more."
    core = Core(settings, local=Script(text))
    async with running(server, core.handle, core.commands):
        await server.post_message("links", author=learner, mention_bot=True)
        await answered(server, "for more")
    writes = [c for c in bot_writes(server) if content(c)]
    assert writes and all(c.json.get("flags", 0) & SUPPRESS_EMBEDS for c in writes)
    final = content(writes[-1])
    assert "](https://" not in final and "the docs (<https://evil.example/?q=secret>)" in final
