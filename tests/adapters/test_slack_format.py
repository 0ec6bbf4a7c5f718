"""Markdown to Slack mrkdwn, mention defusing and splitting: pure functions."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.slack.format import (
    ZWSP,
    footer_mrkdwn,
    mrkdwn_parts,
    neutralise_mentions,
    to_mrkdwn,
    with_footer,
)
from bot.events import Citation

PINGS = re.compile(r"<[!@#][\w^]|(?<![\w\u200b])@(channel|here|everyone)\b", re.IGNORECASE)


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**bold** and __also bold__", "*bold* and *also bold*"),
        ("*italic* and _italic_", "_italic_ and _italic_"),
        ("~~gone~~", "~gone~"),
        ("# Title", "*Title*"),
        ("### Step 2 ###", "*Step 2*"),
        ("- one\n* two\n+ three", "• one\n• two\n• three"),
        ("  - nested", "  • nested"),
        ("1. first", "1. first"),
        ("> a **quote**", "> a *quote*"),
        ("see [the docs](https://docs.python.org/3/)", "see <https://docs.python.org/3/|the docs>"),
        ("![diagram](https://x.org/a.png)", "<https://x.org/a.png|diagram>"),
        ("<https://x.org/a?b=1&c=2>", "<https://x.org/a?b=1&amp;c=2>"),
        ("[odd | label](https://x.org)", "<https://x.org|odd / label>"),
        ("[local](lessons/03.md)", "[local](lessons/03.md)"),
        ("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
        ("---", "──────────"),
        ("`**not bold** <x>`", "`**not bold** &lt;x&gt;`"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("snake_case_name", "snake_case_name"),
    ],
)
def test_markdown_becomes_mrkdwn(markdown, mrkdwn):
    assert to_mrkdwn(markdown) == mrkdwn


def test_code_blocks_keep_their_content_and_lose_only_the_language():
    code = 'if a < b and c > d:\n    print("**not bold** [x](y) # no heading")\n    - not a bullet'
    markdown = f"Look:\n\n```python\n{code}\n```\nDone **now**."
    converted = to_mrkdwn(markdown)
    body = converted.split("```")[1]
    assert body.strip("\n") == code.replace("<", "&lt;").replace(">", "&gt;")
    assert converted.endswith("Done *now*.")


def test_an_unclosed_code_block_is_closed():
    assert to_mrkdwn("```\nprint(1)").endswith("\n```")


@pytest.mark.parametrize(
    "ping", ["<!channel>", "<!here>", "<!everyone>", "<@U123ABC>", "<!subteam^S1|team>", "<#C1>"]
)
def test_mrkdwn_escapes_every_control_sequence(ping):
    for text in (ping, f"**{ping}**", f"`{ping}`", f"```\n{ping}\n```", f"[{ping}](https://x)"):
        converted = to_mrkdwn(text)
        assert ping not in converted and "&lt;" in converted


def test_bare_broadcasts_are_broken_outside_code_but_code_is_untouched():
    assert to_mrkdwn("hey @channel and @Here!") == f"hey @{ZWSP}channel and @{ZWSP}Here!"
    assert to_mrkdwn("```\ngit push @here\n```") == "```\ngit push @here\n```"
    assert to_mrkdwn("mail me@everyone.org") == f"mail me@{ZWSP}everyone.org"


def test_neutralise_mentions_defuses_pings_and_leaves_the_rest():
    text = "Hi <!channel> <@U1> <!subteam^S1> <#C1> @everyone, see <https://x.org> or <b>tag</b>."
    out = neutralise_mentions(text)
    assert not PINGS.search(out)
    assert out.replace(ZWSP, "") == text
    assert "<https://x.org>" in out and "<b>tag</b>" in out


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("<>!@#^&|*_`~[]() \nabchnelUS1")), max_size=200))
def test_no_conversion_ever_lets_a_ping_through(text):
    assert "<!" not in to_mrkdwn(text) and "<@" not in to_mrkdwn(text)
    assert not PINGS.search(neutralise_mentions(text))


def test_long_text_is_split_into_messages_under_the_limit_even_after_escaping():
    text = "Compare a < b & c > d in every sentence. " * 400
    parts = mrkdwn_parts(text, 3900)
    assert len(parts) > 4 and all(len(p) <= 3900 for p in parts)
    assert "".join(parts).count("&lt;") == 400


def test_split_parts_reopen_code_blocks():
    code = "\n".join(f"x{i} = {i}" for i in range(800))
    parts = mrkdwn_parts(f"```python\n{code}\n```", 3900)
    assert len(parts) >= 2
    assert all(p.startswith("```") and p.endswith("```") for p in parts)


def test_footer_shows_notice_and_sources_and_joins_the_last_part():
    footer = footer_mrkdwn([Citation("a<b>.md", "A & B", 0.9)], "Answered locally")
    assert footer == "_Answered locally_\nSources: [1] A &amp; B (a&lt;b&gt;.md)"
    assert with_footer(["one", "two"], footer, 3900) == ["one", "two\n\n" + footer]
    assert with_footer(["x" * 3890], footer, 3900) == ["x" * 3890, footer]
    assert with_footer(["one"], "", 3900) == ["one"]
