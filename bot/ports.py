"""The core's ports: what it needs from models, knowledge, storage and platforms.

Standard library only. Concrete providers live in ``bot.models``, ``bot.ledger``,
``knowledge`` and ``adapters``; the composition root wires them together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from bot.events import (
    ChatMessage,
    Citation,
    CommandRequest,
    CommandResult,
    IncomingMessage,
    Outbound,
    Reply,
)

# --- models ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of streamed text, with the log-probabilities of its tokens when known."""

    text: str
    logprobs: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Generation:
    """A finished answer from one model call."""

    text: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    finish_reason: str | None = None  # "stop", "length", ...
    logprobs: tuple[float, ...] | None = None  # one per output token, when the backend gives them
    # Of input_tokens, those read from / written to the provider's prompt cache (priced apart).
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    usage_estimated: bool = False  # the backend reported no usage: tokens counted locally


StreamEvent = TextDelta | Generation


@dataclass(frozen=True, slots=True)
class GenerationParams:
    max_tokens: int | None = None
    temperature: float | None = None


@runtime_checkable
class ChatModel(Protocol):
    """A chat model behind one provider.

    ``stream`` yields TextDelta items and ends with exactly one Generation that
    carries the whole text, usage, timings and finish reason. ``generate`` returns
    that same Generation without the deltas. Failures raise ModelError subclasses.
    A model that cannot be called at all (a cloud model without its key) may say so
    with ``configured = False``; the tutor then streams local answers instead of
    holding them for it.
    """

    name: str
    provider: str
    is_local: bool

    def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> AsyncIterator[StreamEvent]: ...

    async def generate(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> Generation: ...

    async def warm(self) -> None:
        """Load or preload the model so the first learner does not wait for it."""
        ...

    async def aclose(self) -> None: ...


class ModelError(Exception):
    """A model could not answer. ``reason`` is a short machine-readable tag."""

    reason = "error"

    def __init__(
        self, model: str, message: str, *, hint: str | None = None, reason: str | None = None
    ) -> None:
        super().__init__(f"{model}: {message}" + (f" ({hint})" if hint else ""))
        self.model = model
        self.message = message
        self.hint = hint
        if reason:
            self.reason = reason


class ModelUnavailable(ModelError):
    """The backend cannot be reached or is not set up (refused connection, no key)."""

    reason = "unavailable"


class ModelNotFound(ModelError):
    reason = "not-found"


class ModelTimeout(ModelError):
    reason = "timeout"


class ModelRateLimited(ModelError):
    reason = "rate-limited"

    def __init__(
        self, model: str, message: str, *, retry_after: float | None = None, hint: str | None = None
    ) -> None:
        super().__init__(model, message, hint=hint)
        self.retry_after = retry_after


class ModelServerError(ModelError):
    """The backend answered with an error (5xx, an error line mid-stream, a bad request)."""

    reason = "server-error"


# --- knowledge ------------------------------------------------------------------------


@runtime_checkable
class Embedder(Protocol):
    """Turns text into vectors. ``name`` identifies the model so an index can refuse a mismatch."""

    name: str

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


@dataclass(frozen=True, slots=True)
class Passage:
    text: str
    source: str
    title: str
    score: float
    metadata: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Retriever(Protocol):
    async def search(self, query: str, k: int = 4) -> list[Passage]: ...


class Navigation(Protocol):
    """A finished reply to a question about the course's structure, made without a model."""

    text: str
    passages: Sequence[Passage]  # one per lesson cited
    kind: str  # "about", "next", "count", ...


class Navigator(Protocol):
    """A Retriever that can also answer "what is lesson 3 about", "what comes after X".

    ``recent`` holds the conversation's earlier questions, oldest first. None when the
    question is not about the course's structure or the course has none.
    """

    async def navigate(self, question: str, recent: Sequence[str] = ()) -> Navigation | None: ...


# --- storage --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interaction:
    """One answered (or failed) message, as the ledger records it."""

    message: IncomingMessage
    reply: Reply
    tier: str
    at: float  # unix seconds


@runtime_checkable
class Ledger(Protocol):
    async def record(self, interaction: Interaction) -> None: ...


class EventClaims(Protocol):
    """Platform events taken, shared by every instance on one ledger (Slack retries)."""

    async def claim_event(self, key: str) -> bool:
        """True the first time any instance offers ``key``; False after."""
        ...


@dataclass(frozen=True, slots=True)
class Recalled:
    """An earlier answer that course memory gives again: no model call, no cost."""

    entry_id: int
    answer: str
    citations: tuple[Citation, ...]
    similarity: float  # of the learner's question to the remembered one
    pinned: bool  # a moderator's answer
    saved_usd: float | None  # what making the answer cost (the cloud's price), when known


class AnswerMemory(Protocol):
    """Course memory: answers that proved good, given again to questions that mean the same.

    ``recall`` returns None when nothing remembered fits (or the message may not be
    answered from memory: pasted code, thread context, personal data). ``remember`` is
    offered every answer; it keeps only those it may reuse. ``private`` is true for a
    learner or channel that chose privacy (never stored); ``follow_up`` when the
    conversation had earlier turns the answer may depend on.
    """

    async def recall(
        self, message: IncomingMessage, question: str, *, follow_up: bool = False
    ) -> Recalled | None: ...

    async def remember(
        self,
        message: IncomingMessage,
        question: str,
        reply: Reply,
        *,
        private: bool = False,
        follow_up: bool = False,
    ) -> None: ...

    async def voted(self, correlation_id: str) -> None:
        """Learners' votes on that answer changed (recorded in the ledger)."""


@dataclass(frozen=True, slots=True)
class Preferences:
    """Persisted choices that shape one learner's answers in one place."""

    tier: str | None = None  # the learner's tier, when assigned
    local_only: bool = False  # the learner or channel chose privacy: never the cloud
    model: str | None = None  # a moderator's model for this channel (or server)


class PreferenceStore(Protocol):
    """Per-user and per-channel settings. ``channel=None`` means the whole server."""

    async def preferences(
        self, platform: str, workspace: str | None, channel: str, user: str
    ) -> Preferences: ...

    async def set_model(
        self, platform: str, workspace: str | None, channel: str | None, model: str | None
    ) -> None: ...

    async def set_tier(
        self, platform: str, workspace: str | None, user: str, tier: str
    ) -> None: ...

    async def set_local_only(
        self, platform: str, workspace: str | None, user: str, local_only: bool
    ) -> None: ...


# --- platforms ------------------------------------------------------------------------


class ReplySink(Protocol):
    """Receives an answer as it is generated, for adapters that stream.

    ``reset`` means the text sent so far is void (a model failed mid-stream and the
    next one takes over); ``notice`` says why, in words fit for the learner.

    ``progress`` (optional) says an answer is being prepared but not streamed yet: the
    tutor is holding a local answer back until the confidence gate has passed it (a
    cloud model may still take over), so the text arrives later in one delta. Show it
    as a status (Slack's assistant status, Discord's typing indicator); ``note`` is a
    short phrase fit for the learner. The tutor calls it only on sinks that have it, so
    a sink without it still works; subclasses of this Protocol inherit a no-op.
    """

    async def delta(self, text: str) -> None: ...

    async def reset(self, notice: str) -> None: ...

    async def progress(self, note: str) -> None:
        return None


Handler = Callable[[IncomingMessage, ReplySink | None], Awaitable[Reply]]
CommandHandler = Callable[[CommandRequest], Awaitable[CommandResult]]


@runtime_checkable
class Adapter(Protocol):
    """A platform connection: it feeds messages to a handler and posts outbound messages."""

    name: str

    async def run(self, handler: Handler, commands: CommandHandler) -> None: ...

    async def send(self, message: Outbound) -> None: ...


# --- diagnostics ----------------------------------------------------------------------

CheckStatus = Literal["pass", "warn", "fail", "skip"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of ``tutor doctor``: what was checked, how it went, and how to fix it.

    ``skip`` means not configured (nothing to check); only ``fail`` makes doctor fail.
    """

    name: str
    status: CheckStatus
    detail: str
    fix: str = ""


# A diagnostic a part of the system offers (a platform, the course index): it never raises
# for a problem it can name, it returns a ``fail`` with the fix instead.
Probe = Callable[[], Awaitable[Sequence[CheckResult]]]
