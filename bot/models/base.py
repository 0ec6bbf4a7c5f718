"""Pieces every provider shares."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

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


class CloudModel(StreamingModel):
    """A cloud provider's model over its official SDK client.

    The key and base URL are always passed to the client, so it reads no credentials or
    endpoint from the environment or a profile on disk. Without a key there is no client
    and every call fails at once (``configured`` is False).
    """

    is_local = False

    def __init__(
        self,
        name: str,
        config: Any,
        api_key: str | None,
        client: Callable[..., Any],
        default_base_url: str,
    ) -> None:
        self.name = name
        self.config = config
        self.base_url = config.base_url or default_base_url
        self.configured = bool(api_key)
        self._client = (
            client(
                api_key=api_key,
                base_url=self.base_url,
                timeout=config.timeout_s,
                max_retries=config.max_retries,
            )
            if api_key
            else None
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a ``retry-after`` header in seconds; None when absent or a date."""
    value = headers.get("retry-after")
    try:
        return float(value) if value else None
    except ValueError:
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
