"""Fakes at the core's ports, for unit tests of the core."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from bot.events import ChatMessage
from bot.models.base import StreamingModel
from bot.ports import (
    Generation,
    GenerationParams,
    Interaction,
    ModelError,
    Passage,
    StreamEvent,
    TextDelta,
)


@dataclass
class Script:
    """What a FakeChatModel does on one call."""

    text: str = "ok"
    delay_first: float = 0.0  # seconds before the first token
    fail: ModelError | None = None  # raised before any token
    fail_after: int | None = None  # raise ``fail`` after this many tokens
    finish_reason: str = "stop"
    logprobs: tuple[float, ...] | None = None


class FakeChatModel(StreamingModel):
    """A ChatModel that replays scripted answers and logs every call it gets.

    ``answer`` may be a Script, a list of them (one per call, the last repeats),
    or a function of the prompt that returns the answer text.
    """

    def __init__(
        self,
        name: str,
        answer: Script | list[Script] | Callable[[Sequence[ChatMessage]], str] | None = None,
        *,
        is_local: bool = True,
        provider: str = "fake",
    ) -> None:
        self.name = name
        self.provider = provider
        self.is_local = is_local
        self._answer = answer or Script()
        self.calls: list[list[ChatMessage]] = []
        self.closed = False

    def _script(self, messages: Sequence[ChatMessage]) -> Script:
        if callable(self._answer):
            return Script(text=self._answer(messages))
        if isinstance(self._answer, list):
            index = min(len(self.calls) - 1, len(self._answer) - 1)
            return self._answer[index]
        return self._answer

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> AsyncIterator[StreamEvent]:
        self.calls.append(list(messages))
        script = self._script(messages)
        if script.delay_first:
            await asyncio.sleep(script.delay_first)
        if script.fail is not None and script.fail_after is None:
            raise script.fail
        tokens = script.text.split(" ")
        for i, token in enumerate(tokens):
            if script.fail is not None and i == script.fail_after:
                raise script.fail
            yield TextDelta(token if i == 0 else " " + token)
        yield Generation(
            text=script.text,
            model=self.name,
            input_tokens=sum(len(m.content.split()) for m in messages),
            output_tokens=len(tokens),
            finish_reason=script.finish_reason,
            logprobs=script.logprobs,
        )

    async def aclose(self) -> None:
        self.closed = True


class FakeRetriever:
    def __init__(self, passages: list[Passage] | None = None) -> None:
        self.passages = passages or []
        self.queries: list[str] = []

    async def search(self, query: str, k: int = 4) -> list[Passage]:
        self.queries.append(query)
        return self.passages[:k]


@dataclass
class ListLedger:
    rows: list[Interaction] = field(default_factory=list)

    async def record(self, interaction: Interaction) -> None:
        self.rows.append(interaction)


class RecordingSink:
    def __init__(self) -> None:
        self.deltas: list[str] = []
        self.resets: list[str] = []

    async def delta(self, text: str) -> None:
        self.deltas.append(text)

    async def reset(self, notice: str) -> None:
        self.resets.append(notice)
        self.deltas.clear()

    @property
    def text(self) -> str:
        return "".join(self.deltas)


def texts(reasons: Sequence[object]) -> tuple[str, ...]:
    """Reasons as people read them, for assertions on their wording."""
    return tuple(str(reason) for reason in reasons)


class KeywordEmbedder:
    """A deterministic bag-of-words embedder: texts sharing words are similar."""

    name = "keyword-test"

    def __init__(self, dims: int = 256) -> None:
        self.dims = dims
        self.calls = 0

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        vectors = []
        for text in texts:
            vector = [0.0] * self.dims
            for word in text.lower().replace(",", " ").replace("?", " ").split():
                vector[hash_word(word) % self.dims] += 1.0
            vectors.append(vector)
        return vectors


def hash_word(word: str) -> int:
    import zlib

    return zlib.crc32(word.encode())
