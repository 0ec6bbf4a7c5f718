"""Answers as Slack text: Markdown passed through, mentions defused, messages split."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.slack.format import (
    ZWSP,
    fallback_text,
    footer_markdown,
    footer_mrkdwn,
    markdown_parts,
    neutralise_mentions,
    with_footer,
)
from adapters.text import plain_links
from bot.events import Citation

PINGS = re.compile(r"<[!@#][\w^]|(?<![\w\u200b])@(channel|here|everyone)\b", re.IGNORECASE)


@pytest.mark.parametrize(
    "markdown",
    [
        "**bold** and __also bold__, *italic*, ~~gone~~",
        "# Title\n\n- one\n* two\n  - nested\n1. first",
        "> a **quote**\n\nsee the docs: https://docs.python.org/3/",
        "a < b && c > d, snake_case_name, 2 * 3 * 4",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "```python\nif a < b:\n    print('**not bold**')\n```",
    ],
)
def test_markdown_goes_out_as_written(markdown):
    """Slack renders standard Markdown in markdown_text: nothing is converted."""
    assert markdown_parts(markdown) == [markdown]


def test_an_unclosed_code_block_is_closed():
    assert markdown_parts("```\nprint(1)") == ["```\nprint(1)\n```"]


@pytest.mark.parametrize(
    "ping", ["<!channel>", "<!here>", "<!everyone>", "<@U123ABC>", "<!subteam^S1|team>", "<#C1>"]
)
def test_every_control_sequence_is_defused_even_in_code_and_links(ping):
    for text in (ping, f"**{ping}**", f"`{ping}`", f"```\n{ping}\n```", f"[{ping}](https://x)"):
        (part,) = markdown_parts(text)
        assert ping not in part and part.replace(ZWSP, "") == plain_links(text)


def test_links_show_their_url_instead_of_a_label():
    """Finding 8: a model-chosen label must not hide where a link goes."""
    (part,) = markdown_parts("see [the docs](https://docs.python.org/3/) or <https://x.org|here>")
    assert part == "see the docs (https://docs.python.org/3/) or here (https://x.org)"


def test_bare_broadcasts_are_broken():
    assert markdown_parts("hey @channel and @Here!") == [f"hey @{ZWSP}channel and @{ZWSP}Here!"]
    assert markdown_parts("mail me@everyone.org") == [f"mail me@{ZWSP}everyone.org"]


def test_neutralise_mentions_defuses_pings_and_leaves_the_rest():
    text = "Hi <!channel> <@U1> <!subteam^S1> <#C1> @everyone, see <https://x.org> or <b>tag</b>."
    out = neutralise_mentions(text)
    assert not PINGS.search(out)
    assert out.replace(ZWSP, "") == text
    assert "<https://x.org>" in out and "<b>tag</b>" in out


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("<>!@#^&|*_`~[]() \nabchnelUS1")), max_size=200))
def test_no_part_and_no_fallback_ever_lets_a_ping_through(text):
    for part in markdown_parts(text):
        assert not PINGS.search(part)
        assert "<!" not in fallback_text(part) and "<@" not in fallback_text(part)


def test_long_text_is_split_into_messages_under_the_limit():
    text = "Compare a < b & c > d in every sentence. " * 400
    parts = markdown_parts(text, 3900)
    assert len(parts) > 4 and all(len(p) <= 3900 for p in parts)
    assert "".join(parts).count("a < b") == 400


def test_split_parts_reopen_code_blocks():
    code = "\n".join(f"x{i} = {i}" for i in range(800))
    parts = markdown_parts(f"```python\n{code}\n```", 3900)
    assert len(parts) >= 2
    assert all(p.startswith("```python") and p.endswith("```") for p in parts)
    assert all(len(p) <= 3900 for p in parts)


def test_fallback_text_is_escaped_and_short():
    assert fallback_text("a <b> & c") == "a &lt;b&gt; &amp; c"
    assert len(fallback_text("x" * 5000, 3900)) == 3900


def test_footers_show_notice_and_sources_and_join_the_last_part():
    cites = [Citation("a<b>.md", "A & B", 0.9)]
    assert footer_markdown(cites, "Answered locally") == (
        "_Answered locally_\nSources: [1] A & B (a<b>.md)"
    )
    footer = footer_mrkdwn(cites, "Answered locally")  # a context block takes mrkdwn
    assert footer == "_Answered locally_\nSources: [1] A &amp; B (a&lt;b&gt;.md)"
    assert with_footer(["one", "two"], footer, 3900) == ["one", "two\n\n" + footer]
    assert with_footer(["x" * 3890], footer, 3900) == ["x" * 3890, footer]
    assert with_footer(["one"], "", 3900) == ["one"]
