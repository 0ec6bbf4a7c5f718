"""Pieces every provider shares."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence

from bot.events import ChatMessage
from bot.ports import Generation, GenerationParams, ModelServerError, StreamEvent


async def collect(model: str, events: AsyncIterator[StreamEvent]) -> Generation:
    """Drain a stream and return its closing Generation."""
    async for event in events:
        if isinstance(event, Generation):
            return event
    raise ModelServerError(model, "the stream ended without a final result")


class StreamingModel:
    """Mixin: ``generate`` is ``stream`` drained, so both report identical usage."""

    name: str

    def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError

    async def generate(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> Generation:
        return await collect(self.name, self.stream(messages, params))

    async def warm(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class Stopwatch:
    """Latency and time to first token of one call, in milliseconds."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first: float | None = None

    def mark_first(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()

    @property
    def ttft_ms(self) -> float | None:
        return None if self.first is None else (self.first - self.start) * 1000

    @property
    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.start) * 1000


def as_dicts(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]
