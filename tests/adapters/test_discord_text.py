"""Pure parts of the Discord adapter: translation, rendering, commands, routing."""

from __future__ import annotations

import discord
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.discord.bot import DiscordOptions, intents_for
from adapters.discord.commands import (
    TutorCommands,
    commands_differ,
    is_moderator,
    local_payloads,
    model_choices,
)
from adapters.discord.routing import gateway_url, rebase_url
from adapters.discord.text import (
    MessageFacts,
    conversation_of,
    preview,
    render_reply,
    safe,
    should_answer,
    strip_mentions,
    thread_name,
    to_incoming,
)
from bot.events import Citation, CommandResult, ContextLine, Reply

ME = 111111111111111111
LEARNER = 222222222222222222
CHANNEL = 333333333333333333
GUILD = 444444444444444444


def facts(**kw) -> MessageFacts:
    base = {
        "id": 555555555555555555,
        "content": "hello",
        "author_id": LEARNER,
        "channel_id": CHANNEL,
        "guild_id": GUILD,
    }
    return MessageFacts(**(base | kw))


def reply(text: str, **kw) -> Reply:
    return Reply(text=text, route="local", model="fake", **kw)


# --- when to answer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, False),  # ordinary chatter
        ({"mentions_me": True}, True),
        ({"is_dm": True, "guild_id": None}, True),
        ({"in_my_thread": True, "parent_id": 9}, True),
        ({"in_my_thread": True, "parent_id": 9, "content": ""}, False),  # no content intent
        ({"reply_to": 7, "reply_to_author": ME}, True),  # a reply to the bot's answer
        ({"reply_to": 7, "reply_to_author": LEARNER}, False),
        ({"mentions_me": True, "author_id": ME}, False),  # its own message
        ({"mentions_me": True, "author_is_bot": True}, False),  # another bot
        ({"mentions_me": True, "from_webhook": True}, False),
        ({"mentions_me": True, "is_system": True}, False),
        ({"is_dm": True, "author_is_bot": True}, False),
    ],
)
def test_should_answer(kw, expected):
    assert should_answer(facts(**kw), ME) is expected


def test_mentions_of_the_bot_and_its_role_are_stripped():
    text = f"<@{ME}> what is <@!{ME}> a list? <@&77> <@{LEARNER}>"
    assert strip_mentions(text, ME, [77]) == f"what is   a list?   <@{LEARNER}>"
    assert strip_mentions(f"<@{ME}>", ME) == ""


# --- conversations ------------------------------------------------------------------------------


def test_a_thread_is_one_conversation():
    f = facts(channel_id=42, parent_id=CHANNEL, reply_to=5)
    assert conversation_of(f, ME, {}) == "42"


def test_a_fresh_mention_starts_its_own_conversation_and_a_dm_keeps_one():
    assert conversation_of(facts(id=10), ME, {}) == "10"
    assert conversation_of(facts(id=10, is_dm=True, guild_id=None), ME, {}) == str(CHANNEL)


def test_a_reply_chain_shares_the_id_of_its_root():
    known = {20: "10", 21: "10"}  # the question 10 and the bot's answer 20 and 21
    assert conversation_of(facts(reply_to=21), ME, known) == "10"
    # After a restart nothing is known: the bot's answer names the question it replied to.
    f = facts(reply_to=20, reply_to_author=ME, reply_to_reply_to=10)
    assert conversation_of(f, ME, {}) == "10"
    # A reply to someone else roots the conversation at their message.
    assert conversation_of(facts(reply_to=30, reply_to_author=LEARNER), ME, {}) == "30"


def test_to_incoming_uses_the_parent_channel_and_keeps_what_was_replied_to_apart():
    f = facts(
        content=f"<@{ME}> why does this fail?",
        channel_id=42,
        parent_id=CHANNEL,
        reply_to=30,
        reply_to_author=LEARNER + 1,
        reply_to_text="x = [1, 2\nprint(x)",
    )
    msg = to_incoming(f, me=ME, conversation="42", correlation_id="abc")
    assert msg.text == "why does this fail?"  # the learner's own words only
    assert msg.context == (ContextLine(str(LEARNER + 1), "x = [1, 2\nprint(x)"),)
    assert (msg.platform, msg.workspace, msg.channel, msg.conversation) == (
        "discord",
        str(GUILD),
        str(CHANNEL),
        "42",
    )
    assert (msg.user, msg.is_dm, msg.correlation_id) == (str(LEARNER), False, "abc")


def test_a_dm_has_no_workspace_and_quotes_are_capped():
    f = facts(
        guild_id=None, is_dm=True, reply_to=1, reply_to_author=LEARNER, reply_to_text="y" * 900
    )
    msg = to_incoming(f, me=ME, conversation="c")
    assert msg.workspace is None and msg.is_dm
    (quote,) = msg.context
    assert msg.text == "hello" and len(quote.text) < 505 and quote.text.endswith(" …")


def test_a_reply_to_the_bot_carries_no_quote():
    f = facts(reply_to=20, reply_to_author=ME, reply_to_text="My earlier answer.")
    assert to_incoming(f, me=ME, conversation="c").context == ()


def test_thread_names_come_from_the_first_line():
    assert thread_name("  **How** do `lists` work?\nmore") == "How do lists work?"
    assert thread_name("") == "Question"
    assert len(thread_name("word " * 100)) <= 90


# --- rendering ---------------------------------------------------------------------------------


def test_a_short_answer_is_one_message_with_compact_sources():
    cites = (Citation("lessons/03-lists.md", "Lists", 0.9), Citation("a.md", "A", 0.5))
    rendered = render_reply(reply("Lists hold items.", citations=cites))
    assert rendered.parts == (
        "Lists hold items.\n\n-# Sources: [1] Lists (lessons/03-lists.md) · [2] A (a.md)",
    )
    assert rendered.file is None


def test_a_notice_leads_the_answer():
    rendered = render_reply(reply("Answer."), notice="Switched models.")
    assert rendered.parts == ("-# Switched models.\n\nAnswer.",)


def test_a_long_answer_is_split_with_code_fences_reopened():
    code = "\n".join(f"print({i})" for i in range(300))
    text = "Intro paragraph.\n\n```python\n" + code + "\n```\n\nOutro."
    parts = render_reply(reply(text)).parts
    assert len(parts) >= 2 and all(len(p) <= 2000 for p in parts)
    assert all(p.count("```") % 2 == 0 for p in parts)
    assert parts[1].startswith("```python\n")


def test_more_than_max_parts_becomes_a_file_and_a_summary():
    text = "\n\n".join("A paragraph about lists. " * 20 for _ in range(30))
    rendered = render_reply(reply(text), max_parts=4)
    (summary,) = rendered.parts
    assert rendered.file is not None and rendered.file.filename == "answer.md"
    assert rendered.file.data.decode().strip() == text.strip()
    assert len(summary) <= 2000 and "attached file" in summary
    assert summary.startswith("A paragraph about lists.")


def test_an_empty_answer_still_renders_something():
    assert render_reply(reply("   ")).parts == ("(The answer was empty.)",)


def test_mentions_in_model_output_are_defused():
    text = safe(f"@everyone @here <@{LEARNER}> <@!{LEARNER}> <@&{LEARNER}> a@b.c")
    assert "@everyone" not in text and "@here" not in text
    assert f"<@{LEARNER}>" not in text and f"<@&{LEARNER}>" not in text
    assert "a@b.c" in text  # e-mail addresses are left alone


def test_preview_closes_open_fences_and_marks_more_to_come():
    assert preview("```py\nx = 1") == "```py\nx = 1\n```"
    assert preview("thinking", notice="Retrying.") == "-# Retrying.\nthinking"
    long = preview("word " * 1000)
    assert len(long) <= 2000 and long.endswith("\n-# …")


PIECES = ["lists ", "are ", "x" * 60, " ", ".", "\n", "\n\n", "```", "```py\n", "@everyone"]
PIECES += ["@here", f"<@{LEARNER}>", "@", "everyone", "`"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=1500).map("".join))
def test_rendered_parts_always_fit_and_never_ping(text):
    rendered = render_reply(reply(text))
    shown = preview(text)
    assert bool(shown) == bool(text.strip())  # an empty preview is never sent
    for part in (*rendered.parts, shown):
        assert len(part) <= 2000 and "@everyone" not in part
    assert all(part.strip() for part in rendered.parts)


# --- commands ---------------------------------------------------------------------------------


def test_moderators_have_manage_server_administrator_or_a_named_role():
    none = discord.Permissions.none()
    assert is_moderator(discord.Permissions(manage_guild=True), [], ())
    assert is_moderator(discord.Permissions(administrator=True), [], ())
    assert is_moderator(none, [1, 7], {7})
    assert not is_moderator(none, [1], {7})
    assert not is_moderator(none, [], ())


def test_model_choices_show_health_and_filter_by_what_was_typed():
    listing = CommandResult(
        "- `local`: ollama llama3.2:3b (local, unavailable): refused\n"
        "- `tiny`: embedded smollm2-135m (local, ok)\n"
        "- `cloud`: openai gpt-4o-mini (cloud, ok)",
        choices=("local", "tiny", "cloud"),
    )
    assert model_choices(listing, "") == [
        ("local: ollama llama3.2:3b (local, unavailable): refused", "local"),
        ("tiny: embedded smollm2-135m (local, ok)", "tiny"),
        ("cloud: openai gpt-4o-mini (cloud, ok)", "cloud"),
        ("default: back to the tier's own models", "default"),
    ]
    assert model_choices(listing, "CL") == [("cloud: openai gpt-4o-mini (cloud, ok)", "cloud")]
    many = CommandResult("", choices=tuple(f"m{i}" for i in range(40)))
    assert len(model_choices(many, "")) == 25


def declared() -> list[dict]:
    tree = discord.app_commands.CommandTree(discord.Client(intents=discord.Intents.none()))
    tree.add_command(TutorCommands(None))
    return local_payloads(tree)


def as_registered(payload: dict) -> dict:
    """What Discord's GET returns for a command it registered from ``payload``."""
    options = [
        {k: v for k, v in o.items() if v is not False and v != []} for o in payload["options"]
    ]
    return payload | {
        "id": "1300000000000000001",
        "application_id": "1300000000000000000",
        "version": "1300000000000000042",
        "default_member_permissions": None,
        "name_localizations": None,
        "description_localizations": None,
        "contexts": list(reversed(payload["contexts"])),
        "options": options,
    }


def test_registered_commands_that_match_the_declared_ones_do_not_differ():
    (tutor,) = declared()
    assert tutor["contexts"] == [0, 1] and tutor["integration_types"] == [0]  # said explicitly
    assert not commands_differ([tutor], [as_registered(tutor)])


def test_a_changed_missing_or_extra_command_differs():
    (tutor,) = declared()
    registered = as_registered(tutor)
    assert commands_differ([tutor], [])  # a new install
    assert commands_differ([tutor], [registered | {"description": "Old words"}])
    assert commands_differ([tutor], [registered | {"options": registered["options"][1:]}])
    assert commands_differ([tutor], [registered, registered | {"name": "old-tutor"}])
    assert commands_differ([tutor], [registered | {"default_member_permissions": "32"}])


# --- routing and intents ------------------------------------------------------------------------


def test_rest_urls_are_rebased_onto_a_proxy():
    url = "https://discord.com/api/v10/channels/1/messages"
    assert (
        rebase_url(url, "http://proxy:8080/api/v10/")
        == "http://proxy:8080/api/v10/channels/1/messages"
    )
    assert rebase_url(url, None) == url
    assert (
        rebase_url("https://cdn.discordapp.com/x.png", "http://p/api")
        == "https://cdn.discordapp.com/x.png"
    )


def test_only_the_default_gateway_is_redirected():
    default = "wss://gateway.discord.gg/?v=10&encoding=json&compress=zlib-stream"
    assert gateway_url(default, "ws://127.0.0.1:9/gateway") == (
        "ws://127.0.0.1:9/gateway?v=10&encoding=json&compress=zlib-stream"
    )
    resume = "wss://gateway-us-east1-b.discord.gg/?v=10"
    assert gateway_url(resume, "ws://127.0.0.1:9/gateway") == resume
    assert gateway_url(default, None) == default


def test_intents_are_minimal():
    intents = intents_for(DiscordOptions())
    enabled = {name for name, on in intents if on}
    assert enabled == {"guilds", "guild_messages", "dm_messages", "message_content"}
    assert not intents_for(DiscordOptions(message_content=False)).message_content
