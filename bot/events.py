"""Values that cross the boundary between the platforms and the core.

Standard library only: adapters import this module and nothing else of the core
(besides :mod:`bot.ports`).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal

Route = Literal["local", "cloud"]
Outcome = Literal["answered", "fell_back", "failed"]
Role = Literal["system", "user", "assistant"]


def new_correlation_id() -> str:
    """A short id that ties one message's log lines, reply and ledger row together."""
    return uuid.uuid4().hex[:12]


# The correlation id of the message being handled in this task (and the tasks it starts).
# A context variable is the one module-level state here: log filters read it, so no code
# has to pass ids around just to log them.
_CORRELATION_ID: ContextVar[str] = ContextVar("tutor_correlation_id", default="")


def current_correlation_id() -> str:
    """The correlation id of the message being handled here, or ``""``."""
    return _CORRELATION_ID.get()


@contextlib.contextmanager
def correlation_scope(correlation_id: str) -> Iterator[None]:
    """Within this block, log lines carry ``correlation_id`` (see bot.service.logs)."""
    token = _CORRELATION_ID.set(correlation_id)
    try:
        yield
    finally:
        _CORRELATION_ID.reset(token)


def valid_unicode(text: str) -> str:
    """Lone surrogates (from JSON escapes such as ``"\\ud800"``) as U+FFFD; pairs joined.

    Unencodable text would fail later: in a model's HTTP client, the ledger, a platform.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


@dataclass(frozen=True, slots=True)
class ContextLine:
    """Earlier words the learner's message refers to: a thread's talk, a quoted message."""

    author: str
    text: str


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One learner message, already translated from its platform's payload.

    ``text`` holds only the learner's own words; ``context`` holds what others wrote
    that the message refers to (thread replies, a quoted message), oldest first.
    Routing, limits and the ledger look at ``text`` alone; the prompt gets both.

    ``conversation`` identifies the thread of talk (a Discord thread or reply chain,
    a Slack thread); it defaults to the channel. History is kept per
    (platform, workspace, channel, conversation, user).
    """

    text: str
    user: str
    channel: str
    platform: str = "console"
    workspace: str | None = None
    conversation: str | None = None
    tier: str | None = None
    is_dm: bool = False
    local_only: bool = False
    context: tuple[ContextLine, ...] = ()
    correlation_id: str = field(default_factory=new_correlation_id)

    @property
    def conversation_key(self) -> tuple[str, str, str, str, str]:
        return (
            self.platform,
            self.workspace or "",
            self.channel,
            self.conversation or self.channel,
            self.user,
        )


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One turn of a prompt sent to a model."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Citation:
    """A course passage an answer drew on. ``source`` is relative to the ingested folder."""

    source: str
    title: str
    score: float


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0  # None when the model has no price in config


@dataclass(frozen=True, slots=True)
class Reply:
    """The core's answer to an IncomingMessage, for the adapter to render."""

    text: str
    route: Route
    model: str
    reasons: tuple[str, ...] = ()
    confidence: float | None = None
    citations: tuple[Citation, ...] = ()
    usage: Usage = field(default_factory=Usage)
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    outcome: Outcome = "answered"
    notice: str | None = None
    correlation_id: str = ""


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """A slash command (``/tutor model set``), translated by the adapter.

    ``name`` is one of: ask, forget, privacy, why, model.set, model.show, model.list,
    tier.set, cost, reindex. The adapter decides ``is_moderator`` from the platform
    (Manage Server, a configured role, a workspace admin); the core enforces it.
    """

    name: str
    user: str
    channel: str
    platform: str
    workspace: str | None = None
    args: Mapping[str, str] = field(default_factory=dict)
    is_moderator: bool = False
    correlation_id: str = field(default_factory=new_correlation_id)


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What to show the caller. ``ephemeral`` replies are seen by the caller only."""

    text: str
    ok: bool = True
    ephemeral: bool = True
    choices: tuple[str, ...] = ()  # e.g. model names for autocomplete
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message the bot posts on its own initiative (a digest, a budget notice)."""

    platform: str
    channel: str
    text: str
    attachments: tuple[Attachment, ...] = ()
