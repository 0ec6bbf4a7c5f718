"""Pure translation between Discord messages and the core's values.

A discord.py Message is first reduced to MessageFacts (by ``adapters.discord.bot``); the
functions here decide from those facts whether to answer, which conversation a message
belongs to, and how a Reply becomes Discord message contents.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from discord.utils import escape_mentions

from adapters.text import FENCE, balance_fences, plain_links, render_citations, split_message
from bot.events import Attachment, ContextLine, IncomingMessage, Reply

PLATFORM = "discord"
MESSAGE_LIMIT = 2000
QUOTE_LIMIT = 500  # characters of a replied-to message passed along as context
THREAD_NAME_LIMIT = 90  # Discord allows 100
STREAM_MORE = "\n-# …"


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What the adapter needs to know about one Discord message."""

    id: int
    content: str
    author_id: int
    channel_id: int  # where it was posted: a thread's id when in a thread
    guild_id: int | None = None
    parent_id: int | None = None  # the thread's parent channel, when in a thread
    author_is_bot: bool = False
    is_dm: bool = False
    is_system: bool = False  # joins, pins, boosts ... (not something a learner typed)
    from_webhook: bool = False
    mentions_me: bool = False
    in_my_thread: bool = False  # a thread the bot created or takes part in
    reply_to: int | None = None  # the message this one replies to
    reply_to_author: int | None = None
    reply_to_reply_to: int | None = None  # what that message itself replied to
    reply_to_text: str = ""

    @property
    def in_thread(self) -> bool:
        return self.parent_id is not None


def should_answer(facts: MessageFacts, me: int) -> bool:
    """Answer mentions, DMs, replies to the bot and talk in threads it is part of.

    Never its own messages, other bots', webhooks' or system messages.
    """
    if facts.author_id == me or facts.author_is_bot or facts.from_webhook or facts.is_system:
        return False
    if facts.is_dm or facts.mentions_me:
        return True
    # Without a mention only messages with readable text count (Message Content intent).
    if not facts.content.strip():
        return False
    return facts.in_my_thread or (facts.reply_to is not None and facts.reply_to_author == me)


def strip_mentions(content: str, me: int, role_ids: Collection[int] = ()) -> str:
    """The question without the bot's user mention or its role mentions."""
    ids = "|".join(str(i) for i in (me, *role_ids))
    return re.sub(rf"<@[!&]?(?:{ids})>", " ", content).strip()


def conversation_of(facts: MessageFacts, me: int, known: Mapping[int, str]) -> str:
    """The history key of the talk this message belongs to.

    A thread is one conversation. A reply continues the conversation of the message it
    answers (``known`` maps the messages the bot handled or sent to their conversation),
    so a reply chain shares the id of its root. A fresh mention starts a conversation of
    its own; a DM without a reply continues the DM channel's.
    """
    if facts.in_thread:
        return str(facts.channel_id)
    if facts.reply_to is not None:
        if facts.reply_to in known:
            return known[facts.reply_to]
        if facts.reply_to_author == me and facts.reply_to_reply_to is not None:
            return known.get(facts.reply_to_reply_to, str(facts.reply_to_reply_to))
        return str(facts.reply_to)
    if facts.is_dm:
        return str(facts.channel_id)
    return str(facts.id)


def to_incoming(
    facts: MessageFacts,
    *,
    me: int,
    conversation: str,
    role_ids: Collection[int] = (),
    correlation_id: str | None = None,
) -> IncomingMessage:
    """The core's view of a learner's message.

    ``channel`` is the parent channel for a message in a thread, so channel settings
    (a moderator's model) apply inside its threads too; the thread is the conversation.
    ``text`` is the learner's own words; someone else's message they replied to is the
    ``context``, with its author. (A reply to the bot continues its history instead.)
    """
    quoted = facts.reply_to_text.strip()
    context: tuple[ContextLine, ...] = ()
    if quoted and facts.reply_to_author is not None and facts.reply_to_author != me:
        if len(quoted) > QUOTE_LIMIT:
            quoted = quoted[:QUOTE_LIMIT].rstrip() + " …"
        context = (ContextLine(author=str(facts.reply_to_author), text=quoted),)
    extra = {"correlation_id": correlation_id} if correlation_id else {}
    return IncomingMessage(
        text=strip_mentions(facts.content, me, role_ids),
        context=context,
        user=str(facts.author_id),
        channel=str(facts.parent_id or facts.channel_id),
        platform=PLATFORM,
        workspace=str(facts.guild_id) if facts.guild_id else None,
        conversation=conversation,
        is_dm=facts.is_dm,
        **extra,
    )


def thread_name(question: str) -> str:
    """A thread title from the question's first line."""
    first = next((line.strip() for line in question.splitlines() if line.strip()), "")
    first = re.sub(r"[`*_~|>#]", "", first).strip() or "Question"
    if len(first) > THREAD_NAME_LIMIT:
        first = first[: THREAD_NAME_LIMIT - 1].rstrip() + "…"
    return first


# --- replies ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rendered:
    """A Reply as Discord messages: ``parts`` in order, the first may carry ``file``."""

    parts: tuple[str, ...]
    file: Attachment | None = None


def safe(text: str) -> str:
    """Model output defused: @everyone, @here, user and role mentions cannot ping, and
    links show their URL (never a model-chosen label) without unfurling a preview.

    Allowed mentions are ``none`` and embeds suppressed on every send as well; this is
    the second line (an interaction's first response cannot suppress embeds).
    """
    return _no_unfurl(plain_links(escape_mentions(text), lambda url: f"<{url}>"))


_BARE_URL = re.compile(r"(?<![<\w/])https?://[^\s<>`]{1,2000}")


def _no_unfurl(text: str) -> str:
    """Bare URLs outside code as ``<url>``: Discord shows them without a preview."""
    out, in_fence = [], False
    for line in text.split("\n"):
        if FENCE.match(line):
            in_fence = not in_fence
        if in_fence or FENCE.match(line) or "http" not in line:
            out.append(line)
            continue
        pieces = line.split("`")
        for i in range(0, len(pieces), 2):  # even pieces are outside inline code
            pieces[i] = _BARE_URL.sub(lambda m: f"<{m.group(0)}>", pieces[i])
        out.append("`".join(pieces))
    return "\n".join(out)


def render_reply(
    reply: Reply,
    *,
    notice: str | None = None,
    limit: int = MESSAGE_LIMIT,
    max_parts: int = 4,
    summary_chars: int = 600,
) -> Rendered:
    """Split an answer into messages of at most ``limit`` characters.

    Citations become one small line at the end. An answer that would take more than
    ``max_parts`` messages is sent as a Markdown file with a short summary instead.
    """
    body = reply.text.strip() or "(The answer was empty.)"
    notice = reply.notice or notice
    head = f"-# {notice}" if notice else ""
    sources = render_citations(reply.citations)
    foot = f"-# {sources}" if sources else ""
    text = safe("\n\n".join(p for p in (head, body, foot) if p))
    parts = split_message(text, limit)
    if len(parts) <= max_parts:
        return Rendered(tuple(parts))
    document = "\n\n".join(p for p in (body, sources) if p) + "\n"
    summary = split_message(safe(body), summary_chars)[0]
    note = f"-# The full answer ({len(body):,} characters) is in the attached file."
    short = "\n\n".join(p for p in (safe(head), summary + "\n…", note, safe(foot)) if p)
    return Rendered(
        (split_message(short, limit)[0],),
        Attachment("answer.md", document.encode("utf-8"), "text/markdown; charset=utf-8"),
    )


def preview(text: str, *, notice: str | None = None, limit: int = MESSAGE_LIMIT) -> str:
    """What the first message shows while an answer streams in.

    Open code fences are closed; text beyond one message is left for the final render.
    """
    head = f"-# {notice}\n" if notice else ""
    shown = safe(head + text.strip())
    if len(shown) <= limit:
        return balance_fences(shown)
    first = split_message(shown, limit - len(STREAM_MORE))[0]
    return first + STREAM_MORE
