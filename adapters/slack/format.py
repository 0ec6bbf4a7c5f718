"""Answers as Slack text: mention defusing, message splitting, footers.

Pure functions. Model output is standard Markdown, and Slack renders standard Markdown
itself: in ``markdown_text`` (chat.postMessage, chat.update, chat.postEphemeral and the
streaming methods) and in ``markdown`` blocks. So answers go out as the model wrote
them, with only what could ping defused (:func:`neutralise_mentions`). Slack's own
*mrkdwn* remains where nothing else is taken: context blocks and the ``text`` fallback
beside blocks, where :func:`escape` turns ``&``, ``<`` and ``>`` into entities.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from adapters.text import balance_fences, plain_links, render_citations, split_message
from bot.events import Citation

ZWSP = "\u200b"  # breaks a token without changing how it looks

# Slack accepts up to 12,000 characters of markdown_text, but long messages are unwieldy
# and the text fallback is cut at 4,000: split well before either.
MESSAGE_LIMIT = 3900
SECTION_LIMIT = 3000

_BARE_BROADCAST = re.compile(r"(?i)([@＠])(?=(?:channel|here|everyone)\b)")
# <!channel>, <!here|x>, <!subteam^S1>, <@U1>, <#C1>: Slack control sequences.
_CONTROL = re.compile(r"<(?=[!@#][\w^])")


def escape(text: str) -> str:
    """Slack's three reserved characters as entities: nothing can form a mention or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def neutralise_mentions(text: str) -> str:
    """Defuse pings in Markdown that Slack renders itself.

    ``<!channel>``, ``<@U123>``, ``<!subteam^S1>`` get a zero-width space after the
    ``<``, and bare ``@channel``/``@here``/``@everyone`` one after the ``@``: they read
    the same but are no longer mentions.
    """
    text = plain_links(text)  # a model-chosen label never hides where a link goes
    return _BARE_BROADCAST.sub(lambda m: m.group(1) + ZWSP, _CONTROL.sub("<" + ZWSP, text))


def markdown_parts(markdown: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Markdown, defused, in messages of at most ``limit`` characters each.

    Parts break between paragraphs, lines, sentences or words; a code block cut in two is
    closed and reopened, and one still open at the end (an answer being written) closed.
    """
    parts = split_message(neutralise_mentions(markdown), limit - 4)
    return [balance_fences(part) for part in parts]


def footer_markdown(citations: Sequence[Citation], notice: str | None = None) -> str:
    """The lines under an answer as Markdown: the core's notice (italic) and the sources."""
    lines = [f"_{notice}_"] if notice else []
    if sources := render_citations(citations):
        lines.append(sources)
    return neutralise_mentions("\n".join(lines))[:SECTION_LIMIT]


def footer_mrkdwn(citations: Sequence[Citation], notice: str | None = None) -> str:
    """The same lines as mrkdwn, for a context block under a streamed answer."""
    lines = [f"_{escape(notice)}_"] if notice else []
    if sources := render_citations(citations):
        lines.append(escape(sources))
    return "\n".join(lines)[:SECTION_LIMIT]


def with_footer(parts: list[str], footer: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """``parts`` with ``footer`` under the last one, or as a message of its own if full."""
    if not footer:
        return parts
    if parts and len(parts[-1]) + len(footer) + 2 <= limit:
        return [*parts[:-1], parts[-1] + "\n\n" + footer]
    return [*parts, footer]


def markdown_blocks(markdown: str) -> list[dict[str, str]]:
    """One ``markdown`` block (for payloads that take blocks but not markdown_text)."""
    return [{"type": "markdown", "text": markdown}]


def fallback_text(markdown: str, limit: int = MESSAGE_LIMIT) -> str:
    """The ``text`` beside blocks (notifications, screen readers): escaped, never a ping."""
    text = escape(markdown)
    return text if len(text) <= limit else text[: limit - 1] + "…"
