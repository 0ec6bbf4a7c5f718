"""Slack payloads to the core's values, /tutor parsing, and the adapter's small guards."""

import pytest

from adapters.slack.guards import SeenEvents
from adapters.slack.translate import (
    USAGE,
    UsageError,
    parse_command,
    should_answer,
    thread_context,
    to_incoming,
    to_plain,
)
from bot.events import ContextLine

BOT = "UBOT"


def event(**fields):
    base = {
        "type": "app_mention",
        "user": "U1",
        "text": f"<@{BOT}> hi",
        "ts": "10.1",
        "channel": "C1",
    }
    return base | fields


@pytest.mark.parametrize(
    ("fields", "answer"),
    [
        ({}, True),
        ({"type": "message", "channel_type": "im"}, True),
        ({"type": "message", "channel_type": "im", "subtype": "file_share"}, True),
        ({"type": "message", "channel_type": "channel"}, False),
        ({"type": "message", "channel_type": "im", "subtype": "message_changed"}, False),
        ({"type": "message", "channel_type": "im", "subtype": "message_deleted"}, False),
        ({"edited": {"user": "U1", "ts": "11.0"}}, False),
        ({"bot_id": "B2"}, False),
        ({"user": BOT}, False),
        ({"user": None}, False),
        ({"type": "reaction_added"}, False),
    ],
)
def test_only_new_messages_from_people_are_answered(fields, answer):
    assert should_answer(event(**fields), BOT) is answer


def test_a_channel_mention_becomes_a_threaded_message():
    msg, target = to_incoming(
        event(text=f"<@{BOT}>  what is   a list?"), team="T1", bot_user_id=BOT
    )
    assert msg.text == "what is a list?"
    assert (msg.platform, msg.workspace, msg.channel, msg.user) == ("slack", "T1", "C1", "U1")
    assert msg.conversation == "10.1" and not msg.is_dm
    assert target.thread_ts == "10.1" and target.user == "U1" and target.team == "T1"
    assert not target.in_assistant_thread


def test_a_reply_in_a_thread_keeps_the_thread_as_conversation():
    msg, target = to_incoming(event(thread_ts="9.0"), team="T1", bot_user_id=BOT)
    assert msg.conversation == target.thread_ts == "9.0"


def test_a_top_level_dm_is_its_own_conversation_and_a_dm_thread_an_assistant_thread():
    dm = event(type="message", channel_type="im", channel="D1", text="hello")
    msg, target = to_incoming(dm, team="T1", bot_user_id=BOT)
    assert msg.is_dm and msg.conversation is None and target.thread_ts is None
    msg, target = to_incoming(dm | {"thread_ts": "5.0"}, team="T1", bot_user_id=BOT)
    assert msg.conversation == "5.0" and target.in_assistant_thread


def test_slack_markup_is_read_as_plain_text():
    text = (
        f"<@{BOT}> ask <@U2|ana> in <#C9|general> about <https://x.org|this> &amp; <!here> a &lt; b"
    )
    assert to_plain(text, BOT) == "ask @ana in #general about this (https://x.org) & @here a < b"


def test_thread_context_gives_earlier_messages_with_authors_newest_kept_within_the_budget():
    messages = [
        {"ts": "1.0", "user": "U1", "text": "old " * 50},
        {"ts": "2.0", "user": "U2", "text": "my loop never ends"},
        {"ts": "3.0", "user": "U3", "text": "<@U2> check `i`"},
        {"ts": "4.0", "user": "U2", "text": "the question itself"},
    ]
    context = thread_context(messages, before_ts="4.0", bot_user_id=BOT, max_chars=60)
    assert context == (
        ContextLine("U2", "my loop never ends"),
        ContextLine("U3", "@U2 check `i`"),
    )
    (cut,) = thread_context(messages[:1], before_ts="4.0", bot_user_id=BOT, max_chars=20)
    assert cut == ContextLine("U1", "old old old old old…")


def test_thread_context_is_empty_once_the_bot_has_spoken():
    messages = [{"ts": "1.0", "user": "U1", "text": "hi"}, {"ts": "2.0", "bot_id": "B1"}]
    assert thread_context(messages, before_ts="3.0", bot_user_id=BOT, max_chars=500) == ()


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("ask What is a *list*?", "ask", {"text": "What is a *list*?"}),
        ("forget", "forget", {}),
        ("WHY", "why", {}),
        ("privacy", "privacy", {"mode": "on"}),
        ("privacy off", "privacy", {"mode": "off"}),
        ("model list", "model.list", {}),
        ("model show", "model.show", {}),
        ("model set tiny", "model.set", {"model": "tiny"}),
        ("model set tiny Server", "model.set", {"model": "tiny", "scope": "server"}),
        ("tier set <@U12AB|ana> pro", "tier.set", {"user": "U12AB", "tier": "pro"}),
        ("tier set U12AB pro", "tier.set", {"user": "U12AB", "tier": "pro"}),
        ("cost", "cost", {}),
        ("cost Month", "cost", {"period": "month"}),
        ("reindex", "reindex", {}),
        ("faq list", "faq.list", {}),
        ("faq pin #12", "faq.pin", {"id": "12"}),
        ("FAQ forget 7", "faq.forget", {"id": "7"}),
    ],
)
def test_tutor_subcommands_parse(text, name, args):
    parsed = parse_command(text)
    assert (parsed.name, dict(parsed.args)) == (name, args)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("", "*Usage:*"),
        ("help", "*Usage:*"),
        ("ask", "Ask a question"),
        ("privacy maybe", "privacy on"),
        ("model", "model list"),
        ("model set", "model set <model>"),
        ("tier set ana pro", "Mention the learner"),
        ("tier pro", "tier set @learner"),
        ("faq pin", "faq pin <number>"),
        ("`rm -rf`", "I don't know `'rm`"),
    ],
)
def test_bad_command_text_gets_usage_help(text, hint):
    with pytest.raises(UsageError) as error:
        parse_command(text)
    assert hint in str(error.value)


def test_usage_lists_every_subcommand():
    for word in ("ask", "forget", "privacy", "why", "model set", "tier set", "cost", "reindex"):
        assert word in USAGE


def test_seen_events_remember_keys_for_a_while():
    now = [0.0]
    seen = SeenEvents(ttl_s=60, max_keys=3, clock=lambda: now[0])
    assert seen.first("Ev1", ("C1", "1.0"))
    assert not seen.first("Ev1")  # the retry
    assert not seen.first("Ev2", ("C1", "1.0"))  # the same message as another event
    assert seen.first("Ev3")
    now[0] = 61.0
    assert seen.first("Ev1")  # forgotten after the TTL
    for key in ("a", "b", "c", "d"):
        seen.first(key)
    assert seen.first("Ev1")  # and beyond max_keys, oldest first
