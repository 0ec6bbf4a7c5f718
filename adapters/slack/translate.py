"""Slack payloads to the core's values, and back: pure functions, no SDK calls."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.events import ContextLine, IncomingMessage

PLATFORM = "slack"

# Message subtypes that are a person talking; everything else (edits, deletions, joins,
# bot messages, thread broadcasts) is not a question for the tutor.
_HUMAN_SUBTYPES = frozenset({None, "file_share"})

_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL_MENTION = re.compile(r"<#([CGD][A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(\w+)(?:\^[^|>]*)?(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")


@dataclass(frozen=True, slots=True)
class Target:
    """Where and to whom a reply goes."""

    channel: str
    thread_ts: str | None  # None: a top-level reply (a plain DM)
    user: str
    team: str | None
    is_dm: bool = False
    in_assistant_thread: bool = False  # a DM thread: the status line and prompts apply


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    """``/tutor model set tiny`` -> ``ParsedCommand("model.set", {"model": "tiny"})``."""

    name: str
    args: Mapping[str, str] = field(default_factory=dict)


class UsageError(ValueError):
    """The command text does not parse; the message says how to use it."""


USAGE = """**Usage:** `/tutor <command>`
- `ask <question>`: ask privately (only you see the answer)
- `forget`: forget our conversation history
- `privacy on|off`: local models only, never the cloud
- `why`: which model answered you last, and why
- `hint`: a hint for your exercise, one step at a time
- `human [note]`: ask a person (the course staff)

Moderators: `model list`, `model show`, `model set <model> [channel|server]`, \
`tier set @learner <tier>`, `cost [day|week|month]`, `reindex`, `mode guide|answer`, \
`offtopic on|off`, `insights [day|week|month]`, `faq list`, `faq pin <number>`, \
`faq forget <number>`"""


def event_team(body: Mapping[str, Any], event: Mapping[str, Any]) -> str | None:
    return event.get("team") or body.get("team_id") or None


def should_answer(event: Mapping[str, Any], bot_user_id: str | None) -> bool:
    """A person's new message to the bot: not a bot, not an edit, not the bot itself."""
    if event.get("bot_id") or event.get("bot_profile"):
        return False
    if event.get("subtype") not in _HUMAN_SUBTYPES or event.get("hidden"):
        return False
    if "edited" in event or "message" in event:  # edits arrive with the message nested
        return False
    user = event.get("user")
    if not user or (bot_user_id and user == bot_user_id):
        return False
    if event.get("type") == "message":
        return event.get("channel_type") == "im"  # in channels only mentions are answered
    return event.get("type") == "app_mention"


def to_incoming(
    event: Mapping[str, Any],
    *,
    team: str | None,
    bot_user_id: str | None,
    correlation_id: str | None = None,
) -> tuple[IncomingMessage, Target]:
    """An ``app_mention`` or DM ``message`` event as an IncomingMessage and its reply target.

    A mention in a channel is always answered in a thread (the thread it is in, or a new one
    on the message); the thread is the conversation. A top-level DM is answered top-level
    and the DM itself is the conversation; a DM thread is its own conversation.
    """
    channel = event["channel"]
    is_dm = event.get("channel_type") == "im" or channel.startswith("D")
    thread_ts = event.get("thread_ts")
    if not is_dm:
        thread_ts = thread_ts or event["ts"]
    extra = {"correlation_id": correlation_id} if correlation_id else {}
    message = IncomingMessage(
        text=to_plain(event.get("text") or "", bot_user_id),
        user=event["user"],
        channel=channel,
        platform=PLATFORM,
        workspace=team,
        conversation=thread_ts,
        is_dm=is_dm,
        **extra,
    )
    target = Target(
        channel=channel,
        thread_ts=thread_ts,
        user=event["user"],
        team=team,
        is_dm=is_dm,
        in_assistant_thread=is_dm and thread_ts is not None,
    )
    return message, target


def to_plain(text: str, bot_user_id: str | None = None) -> str:
    """Slack markup as the plain text a model should read.

    The bot's own mention is dropped, other mentions become ``@name``, links ``label (url)``
    and entities are decoded.
    """

    def user(m: re.Match[str]) -> str:
        if bot_user_id and m.group(1) == bot_user_id:
            return ""
        return "@" + (m.group(2) or m.group(1))

    text = _USER_MENTION.sub(user, text)
    text = _CHANNEL_MENTION.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = _SPECIAL.sub(lambda m: "@" + (m.group(2) or m.group(1)).lstrip("@"), text)
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(2) else m.group(1), text)
    return re.sub(r"[ \t]{2,}", " ", html.unescape(text)).strip()


def thread_context(
    messages: Sequence[Mapping[str, Any]],
    *,
    before_ts: str,
    bot_user_id: str | None,
    max_chars: int,
) -> tuple[ContextLine, ...]:
    """Earlier messages of a thread the bot is joining, oldest first, with their authors.

    At most ``max_chars`` characters of text, the newest kept (a first one over the
    budget is cut). Empty when the bot already spoke in the thread (its own history
    carries on from there) or nothing came before.
    """
    earlier = [m for m in messages if _ts(m.get("ts")) < _ts(before_ts)]
    if max_chars <= 0 or any(_is_bot(m, bot_user_id) for m in messages):
        return ()
    lines: list[ContextLine] = []
    used = 0
    for m in reversed(earlier):
        text = to_plain(m.get("text") or "", bot_user_id)
        if not text:
            continue
        author = str(m.get("user") or "someone")
        if used + len(text) > max_chars:
            if not lines:
                lines.append(ContextLine(author, text[: max_chars - 1] + "…"))
            break
        lines.append(ContextLine(author, text))
        used += len(text)
    return tuple(reversed(lines))


def _is_bot(message: Mapping[str, Any], bot_user_id: str | None) -> bool:
    return bool(message.get("bot_id")) or (
        bot_user_id is not None and message.get("user") == bot_user_id
    )


def _ts(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


# --- /tutor ----------------------------------------------------------------------------


def parse_command(text: str) -> ParsedCommand:
    """The ``/tutor`` text as a command name and arguments; UsageError when it is not one."""
    words = text.split()
    if not words or words[0].lower() in {"help", "?"}:
        raise UsageError(USAGE)
    head, rest = words[0].lower(), words[1:]
    if head == "ask":
        question = text.strip()[3:].strip()
        if not question:
            raise UsageError("Ask a question: `/tutor ask How do lists work?`")
        return ParsedCommand("ask", {"text": question})
    if head in {"forget", "why", "reindex"}:
        return ParsedCommand(head)
    if head == "privacy":
        mode = rest[0].lower() if rest else "on"
        if mode not in {"on", "off"}:
            raise UsageError("Use `/tutor privacy on` or `/tutor privacy off`.")
        return ParsedCommand("privacy", {"mode": mode})
    if head == "cost":
        return ParsedCommand("cost", {"period": rest[0].lower()} if rest else {})
    if head == "hint":
        return ParsedCommand("ask", {"text": "hint"})
    if head == "human":
        return ParsedCommand("human", {"note": text.strip()[5:].strip()})
    if head == "mode":
        return ParsedCommand("mode", {"mode": rest[0].lower()} if rest else {})
    if head == "offtopic":
        return ParsedCommand("offtopic", {"mode": rest[0].lower()} if rest else {})
    if head == "insights":
        return ParsedCommand("insights", {"period": rest[0].lower()} if rest else {})
    if head == "model":
        return _model_command(rest)
    if head == "tier":
        return _tier_command(rest)
    if head == "faq":
        return _faq_command(rest)
    raise UsageError(f"I don't know `{_clip(head)}`.\n{USAGE}")


def _faq_command(rest: list[str]) -> ParsedCommand:
    action = rest[0].lower() if rest else ""
    if action == "list":
        return ParsedCommand("faq.list")
    if action in {"pin", "forget"} and len(rest) == 2:
        return ParsedCommand(f"faq.{action}", {"id": rest[1].lstrip("#")})
    raise UsageError("Use `/tutor faq list`, `faq pin <number>` or `faq forget <number>`.")


def _model_command(rest: list[str]) -> ParsedCommand:
    action = rest[0].lower() if rest else ""
    if action in {"list", "show"}:
        return ParsedCommand(f"model.{action}")
    if action == "set" and len(rest) >= 2:
        args = {"model": rest[1]}
        if len(rest) >= 3:
            args["scope"] = rest[2].lower()
        return ParsedCommand("model.set", args)
    raise UsageError(
        "Use `/tutor model list`, `model show` or `model set <model> [channel|server]`."
    )


def _tier_command(rest: list[str]) -> ParsedCommand:
    if len(rest) == 3 and rest[0].lower() == "set":
        user = user_id(rest[1])
        if user is None:
            raise UsageError(
                f"Mention the learner (`@name`) or give their user id; `{_clip(rest[1])}` "
                "is neither."
            )
        return ParsedCommand("tier.set", {"user": user, "tier": rest[2]})
    raise UsageError("Use `/tutor tier set @learner <tier>`.")


def user_id(token: str) -> str | None:
    """A user id from ``<@U123|name>``, ``<@U123>`` or ``U123``."""
    match = _USER_MENTION.fullmatch(token)
    if match:
        return match.group(1)
    return token if re.fullmatch(r"[UW][A-Z0-9]{2,}", token) else None


def _clip(word: str) -> str:
    return word[:30].replace("`", "'")
