"""Markdown to Slack text: mrkdwn conversion, mention neutralising, message splitting.

Pure functions. Model output is standard Markdown; Slack has two markups:

- *mrkdwn* (``text`` of chat.postMessage / chat.update): ``*bold*``, ``_italic_``,
  ``<url|label>`` links, and ``&``, ``<``, ``>`` must be escaped as HTML entities.
  :func:`to_mrkdwn` converts, leaving code untouched apart from that escaping.
- *markdown* (``markdown_text`` of the native streaming methods): Slack renders it
  itself, so :func:`neutralise_mentions` only defuses anything that could ping.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from adapters.text import render_citations, split_message
from bot.events import Citation

ZWSP = "\u200b"  # breaks a token without changing how it looks

# Slack splits messages above about 4,000 characters; stay clear of that.
MESSAGE_LIMIT = 3900
SECTION_LIMIT = 3000

_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+#.-]*)\s*$")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"!?\[([^\]\n]*)\]\(\s*<?([^\s)>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^\s<>]+)>")
_BARE_BROADCAST = re.compile(r"(?i)([@＠])(?=(?:channel|here|everyone)\b)")
# <!channel>, <!here|x>, <!subteam^S1>, <@U1>, <#C1>: Slack control sequences.
_CONTROL = re.compile(r"<(?=[!@#][\w^])")
_HEADING = re.compile(r"^(\s{0,3})#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(?=\S)")
_QUOTE = re.compile(r"^(\s*(?:>\s?)+)")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC_STAR = re.compile(r"(?<![*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_PLACEHOLDER = re.compile("\x00(\\d+)\x00")


def escape(text: str) -> str:
    """Slack's three reserved characters as entities: nothing can form a mention or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def neutralise_mentions(text: str) -> str:
    """Defuse pings in Markdown that Slack renders itself (native streaming).

    ``<!channel>``, ``<@U123>``, ``<!subteam^S1>`` get a zero-width space after the
    ``<``, and bare ``@channel``/``@here``/``@everyone`` one after the ``@``: they read
    the same but are no longer mentions.
    """
    return _BARE_BROADCAST.sub(lambda m: m.group(1) + ZWSP, _CONTROL.sub("<" + ZWSP, text))


def to_mrkdwn(markdown: str) -> str:
    """Convert Markdown to Slack mrkdwn without corrupting code.

    Fenced blocks keep their content byte for byte (only ``& < >`` escaped, which Slack
    shows as the original characters) and lose the language tag mrkdwn has no use for.
    Outside code: bold, italics, strikethrough, headings (as bold lines), bullets,
    quotes and links (``[t](u)`` to ``<u|t>``) are converted, everything else escaped.
    """
    out: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match.group(2)
            out.append(match.group(1) + "```")
        elif fence is not None and match and match.group(2)[0] == fence[0] and not match.group(3):
            fence = None
            out.append(match.group(1) + "```")
        elif fence is not None:
            out.append(escape(line))
        else:
            out.append(_convert_line(line))
    if fence is not None:
        out.append("```")
    return "\n".join(out)


def _convert_line(line: str) -> str:
    if _RULE.match(line):
        return "──────────"
    prefix = ""
    quote = _QUOTE.match(line)
    if quote:
        prefix = ">" * quote.group(1).count(">") + " "
        line = line[quote.end() :]
    heading = _HEADING.match(line)
    if heading:
        body = _convert_inline(heading.group(2))
        return prefix + heading.group(1) + (f"*{body}*" if body else "")
    bullet = _BULLET.match(line)
    if bullet:
        prefix += bullet.group(1) + "• "
        line = line[bullet.end() :]
    return prefix + _convert_inline(line)


def _convert_inline(text: str) -> str:
    """Code spans and links are set aside first, so nothing inside them is reformatted."""
    kept: list[str] = []

    def keep(value: str) -> str:
        kept.append(value)
        return f"\x00{len(kept) - 1}\x00"

    text = text.replace("\x00", "")
    text = _INLINE_CODE.sub(lambda m: keep("`" + escape(m.group(2)) + "`"), text)
    text = _LINK.sub(lambda m: keep(_link(m.group(2), m.group(1))), text)
    text = _AUTOLINK.sub(lambda m: keep(_link(m.group(1), "")), text)
    text = escape(text)
    text = _BARE_BROADCAST.sub(lambda m: m.group(1) + ZWSP, text)
    text = _BOLD.sub(lambda m: keep("*" + m.group(2).replace("*", "") + "*"), text)
    text = _ITALIC_STAR.sub(r"_\1_", text)
    text = _STRIKE.sub(r"~\1~", text)
    # Placeholders may nest (a link inside bold): resolve until none is left.
    while _PLACEHOLDER.search(text):
        text = _PLACEHOLDER.sub(lambda m: kept[int(m.group(1))], text)
    return text


def _link(url: str, label: str) -> str:
    """``<url|label>``, or the escaped original text when the URL is not a web link."""
    if not re.match(r"(?i)(https?://|mailto:)", url):
        return escape(f"[{label}]({url})" if label else url)
    safe_url = url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
    safe_url = safe_url.replace("&", "&amp;")
    label = _BARE_BROADCAST.sub(lambda m: m.group(1) + ZWSP, escape(label.replace("|", "/")))
    return f"<{safe_url}|{label}>" if label.strip() else f"<{safe_url}>"


def mrkdwn_parts(markdown: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Markdown split into mrkdwn messages of at most ``limit`` characters each.

    The Markdown is split first (so links and code fences are never cut in half) and each
    part converted; a part that escaping pushed over the limit is split again, smaller.
    """
    if limit < 500:
        raise ValueError("limit too small for escaped Slack text")
    return _parts(markdown, limit, limit)


def _parts(markdown: str, limit: int, split_at: int) -> list[str]:
    parts: list[str] = []
    for piece in split_message(markdown, split_at):
        converted = to_mrkdwn(piece)
        if len(converted) <= limit:
            parts.append(converted)
        elif split_at > 100:
            smaller = max(100, split_at * limit // len(converted) - 10)
            parts.extend(_parts(piece, limit, smaller))
        else:  # escaping grows text at most fivefold, so this is only a safety net
            parts.extend(converted[i : i + limit] for i in range(0, len(converted), limit))
    return parts


def footer_mrkdwn(citations: Sequence[Citation], notice: str | None = None) -> str:
    """The lines under an answer: the core's notice (italic) and the sources, as mrkdwn."""
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
