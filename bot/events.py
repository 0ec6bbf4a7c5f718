"""Values that cross the boundary between the platforms and the core.

Standard library only: adapters import this module and nothing else of the core
(besides :mod:`bot.ports`).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

Route = Literal["local", "memory", "cloud"]
Outcome = Literal["answered", "fell_back", "failed"]
Role = Literal["system", "user", "assistant"]

# The tags around the course material at the head of a learner's turn: the prompt writes
# them, redaction keeps what they enclose verbatim, Claude caches it as a prefix.
MATERIAL_OPEN = "<course-material>"
MATERIAL_CLOSE = "</course-material>"


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


class ReasonCode(StrEnum):
    """Every reason the tutor gives for how it answered: the one vocabulary.

    Codes are what code decides on, and what the ledger, digests and metrics group by
    (a bounded set of labels). The detail of a Reason (a tier, a model, a score) is for
    people reading ``/tutor why`` or the ledger.
    """

    # the message
    TIER = "tier"
    TRIMMED = "trimmed"
    EMPTY_MESSAGE = "empty-message"
    # the routing plan: rules, classifier, settings
    KEYWORD = "keyword"
    KEYWORD_OVERRULED = "keyword-overruled"
    LENGTH = "length"
    CODE = "code"
    CLASSIFIER_COMPLEX = "classifier-complex"
    CLASSIFIER_SIMPLE = "classifier-simple"
    CLASSIFIER_FAILED = "classifier-failed"
    NO_RULE = "no-rule"
    TASK = "task"
    CLOUD_FIRST = "cloud-first"
    STICKY = "sticky"
    NO_CLOUD_IN_TIER = "no-cloud-in-tier"
    CHANNEL_MODEL = "channel-model"
    TASK_MODEL = "task-model"
    LOCAL_ONLY = "local-only"
    LOCAL_ONLY_CHANNEL = "local-only-channel"
    TIER_BUDGET = "tier-budget"
    LEARNER_BUDGET = "learner-budget"
    # course material
    RETRIEVAL_NONE = "retrieval-none"
    RETRIEVAL_FAILED = "retrieval-failed"
    RETRIEVAL_PRIVATE = "retrieval-private"  # skipped: its embedder is a cloud service
    # generation
    FAILOVER = "failover"
    SKIPPED_UNHEALTHY = "skipped-unhealthy"
    LOCAL_FAILED = "local-failed"
    LOW_CONFIDENCE = "low-confidence"
    CLOUD_FAILED = "cloud-failed"
    REDACTED = "redacted"
    # what the confidence gate found in a local answer
    LOGPROBS = "logprobs"
    TRUNCATED = "truncated"
    SHORT_ANSWER = "short-answer"
    HEDGING = "hedging"
    REPETITION = "repetition"
    EMPTY_ANSWER = "empty-answer"
    NO_MATERIAL = "no-material"
    UNGROUNDED = "ungrounded"
    LOOP_STOPPED = "loop-stopped"
    LONG_ANSWER = "long-answer"
    # answered from the course itself, without a model
    NAVIGATION = "navigation"
    COURSE_QUOTE = "course-quote"
    QUOTE_FIRST = "quote-first"  # a model marked quote_first was not asked: the quote stood ready
    # answered from course memory: an earlier answer to a question that means the same
    MEMORY = "memory"
    # counting escalations: a cloud answer that gave no other reason
    TIER_CHAIN = "tier-chain"
    # teaching: what the tutor did instead of (or after) a model's answer
    SOLUTION_WITHHELD = "solution-withheld"
    HINT = "hint"
    OFF_TOPIC = "off-topic"
    LEARNER_VOTE = "learner-vote"
    # text recorded before reasons had codes that matches none of these
    OTHER = "other"


# How each code reads; ``{}`` is where the detail goes.
_TEXT: dict[ReasonCode, str] = {
    ReasonCode.TIER: "tier:{}",
    ReasonCode.TRIMMED: "trimmed:{}",
    ReasonCode.EMPTY_MESSAGE: "empty-message",
    ReasonCode.KEYWORD: "keyword:{}",
    ReasonCode.KEYWORD_OVERRULED: "keyword:{}:overruled",
    ReasonCode.LENGTH: "length:{}",
    ReasonCode.CODE: "code:{}",
    ReasonCode.CLASSIFIER_COMPLEX: "classifier:complex({})",
    ReasonCode.CLASSIFIER_SIMPLE: "classifier:simple({})",
    ReasonCode.CLASSIFIER_FAILED: "classifier:failed",
    ReasonCode.NO_RULE: "rules:none",
    ReasonCode.TASK: "task:{}",
    ReasonCode.CLOUD_FIRST: "tier:cloud-first",
    ReasonCode.STICKY: "sticky:{}",
    ReasonCode.NO_CLOUD_IN_TIER: "cloud:none-in-tier",
    ReasonCode.CHANNEL_MODEL: "channel-model:{}",
    ReasonCode.TASK_MODEL: "task-model:{}",
    ReasonCode.LOCAL_ONLY: "privacy:local-only",
    ReasonCode.LOCAL_ONLY_CHANNEL: "privacy:local-only-channel",
    ReasonCode.TIER_BUDGET: "budget:{}-exhausted",
    ReasonCode.LEARNER_BUDGET: "budget:learner-exhausted",
    ReasonCode.UNGROUNDED: "answer:ungrounded({})",
    ReasonCode.LOOP_STOPPED: "answer:loop-stopped({})",
    ReasonCode.LONG_ANSWER: "answer:cut({})",
    ReasonCode.NAVIGATION: "course:navigation({})",
    ReasonCode.COURSE_QUOTE: "course:quote",
    ReasonCode.QUOTE_FIRST: "course:quote-first({})",
    ReasonCode.MEMORY: "memory:{}",
    ReasonCode.RETRIEVAL_NONE: "retrieval:none",
    ReasonCode.RETRIEVAL_FAILED: "retrieval:failed",
    ReasonCode.RETRIEVAL_PRIVATE: "retrieval:skipped-private",
    ReasonCode.FAILOVER: "failover:{}",
    ReasonCode.SKIPPED_UNHEALTHY: "skipped:{}:unhealthy",
    ReasonCode.LOCAL_FAILED: "escalate:local-failed",
    ReasonCode.LOW_CONFIDENCE: "confidence:{}",
    ReasonCode.CLOUD_FAILED: "cloud:failed",
    ReasonCode.REDACTED: "redacted:{}",
    ReasonCode.LOGPROBS: "logprobs:p10={}",
    ReasonCode.TRUNCATED: "answer:truncated",
    ReasonCode.SHORT_ANSWER: "answer:short({})",
    ReasonCode.HEDGING: "answer:hedging({})",
    ReasonCode.REPETITION: "answer:repetition({})",
    ReasonCode.EMPTY_ANSWER: "answer:empty",
    ReasonCode.NO_MATERIAL: "retrieval:nothing-relevant",
    ReasonCode.TIER_CHAIN: "tier-chain",
    ReasonCode.SOLUTION_WITHHELD: "teaching:solution-withheld({})",
    ReasonCode.HINT: "teaching:hint({})",
    ReasonCode.OFF_TOPIC: "teaching:off-topic",
    ReasonCode.LEARNER_VOTE: "feedback:{}",
    ReasonCode.OTHER: "{}",
}


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason for how a message was answered: a code, plus detail for people.

    ``str(reason)`` is the readable text (``failover:ollama:timeout``) shown by
    ``/tutor why``, ``tutor ask --json`` and kept in the ledger; ``Reason.parse`` reads it
    back. Decide on ``code``, never on the text.
    """

    code: ReasonCode
    detail: str = ""

    def __str__(self) -> str:
        return _TEXT[self.code].replace("{}", self.detail)

    @classmethod
    def parse(cls, text: str) -> Reason:
        """The Reason a text was written from; ``OTHER`` when no code reads like it."""
        for code, prefix, suffix in _PATTERNS:
            if suffix is None:
                if text == prefix:
                    return cls(code)
            elif (
                len(text) > len(prefix) + len(suffix)
                and text.startswith(prefix)
                and text.endswith(suffix)
            ):
                return cls(code, text[len(prefix) : len(text) - len(suffix)])
        return cls(ReasonCode.OTHER, text)


def _patterns() -> list[tuple[ReasonCode, str, str | None]]:
    """Texts to try in order: fixed ones first, then the most specific templates."""
    fixed = [(code, text, None) for code, text in _TEXT.items() if "{}" not in text]
    templates = [
        (code, *text.split("{}")) for code, text in _TEXT.items() if "{}" in text and text != "{}"
    ]
    templates.sort(key=lambda t: -(len(t[1]) + len(t[2])))
    return fixed + templates  # type: ignore[operator]


_PATTERNS = _patterns()


def escalation_codes(codes: Iterable[ReasonCode]) -> tuple[ReasonCode, ...]:
    """Why a cloud model answered, as codes to count: each once, the tier left out.

    A cloud answer with no other reason came from its tier's chain: ``tier-chain``.
    """
    found = dict.fromkeys(ReasonCode(code) for code in codes if code != ReasonCode.TIER)
    return tuple(found) or (ReasonCode.TIER_CHAIN,)


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
    mode: str | None = None  # "guide" or "answer"; None: the channel's teaching mode

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
    estimated: bool = False  # the model reported no usage: tokens were counted locally


@dataclass(frozen=True, slots=True)
class Reply:
    """The core's answer to an IncomingMessage, for the adapter to render."""

    text: str
    route: Route
    model: str
    reasons: tuple[Reason, ...] = ()
    confidence: float | None = None
    citations: tuple[Citation, ...] = ()
    usage: Usage = field(default_factory=Usage)
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    outcome: Outcome = "answered"
    notice: str | None = None
    correlation_id: str = ""
    tier: str = ""  # the tier the learner was answered under
    saved_usd: float | None = None  # memory answers: what the remembered answer cost to make
    mode: str = ""  # the teaching mode it was answered in ("guide" or "answer")

    @property
    def reason_texts(self) -> tuple[str, ...]:
        """The reasons as people read them (``tutor ask --json``, ``/tutor why``)."""
        return tuple(str(reason) for reason in self.reasons)


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
    # One of the configured operators ([discord] operator_ids, [slack] operators): may
    # run what changes every server at once (reindex).
    is_operator: bool = False


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What to show the caller. ``ephemeral`` replies are seen by the caller only."""

    text: str
    ok: bool = True
    ephemeral: bool = True
    choices: tuple[str, ...] = ()  # e.g. model names for autocomplete
    attachments: tuple[Attachment, ...] = ()
    outbound: tuple[Outbound, ...] = ()  # messages the adapter posts elsewhere (a hand-off)
    # Follow-ups to offer as buttons: "detail" (ask the detailed model), "human" (ask a TA).
    actions: tuple[str, ...] = ()


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
    # The one ping the bot may send: the configured staff role (Discord role id, Slack user
    # group id) on a hand-off. Adapters mention nothing else, whatever the text says.
    mention_role: str | None = None
