"""Anthropic provider: Claude through the official ``anthropic`` AsyncAnthropic client.

Streams the Messages API. The system prompt and the course material at the head of the
learner's turn are marked as a cacheable prefix (prompt caching), so a course passage
sent again is read from Anthropic's cache at a tenth of the input price. Usage comes from
the stream: ``message_start`` carries the input (uncached, cache read, cache written),
``message_delta`` the running output count.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import anthropic

from bot.config import AnthropicModel
from bot.events import MATERIAL_CLOSE, MATERIAL_OPEN, ChatMessage
from bot.models.base import CloudModel, Stopwatch, retry_after
from bot.ports import (
    Generation,
    GenerationParams,
    ModelError,
    ModelNotFound,
    ModelRateLimited,
    ModelServerError,
    ModelTimeout,
    ModelUnavailable,
    StreamEvent,
    TextDelta,
)

DEFAULT_BASE_URL = "https://api.anthropic.com"
CACHE = {"type": "ephemeral"}
KEY_HINT = "create a key at https://console.anthropic.com/settings/keys and set ANTHROPIC_API_KEY"


class AnthropicChatModel(CloudModel):
    provider = "anthropic"
    config: AnthropicModel
    _client: anthropic.AsyncAnthropic | None

    def __init__(self, name: str, config: AnthropicModel, api_key: str | None) -> None:
        super().__init__(name, config, api_key, anthropic.AsyncAnthropic, DEFAULT_BASE_URL)

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> AsyncIterator[StreamEvent]:
        if self._client is None:
            raise ModelUnavailable(
                self.name,
                "no API key, so Claude cannot be reached",
                hint="set ANTHROPIC_API_KEY",
                reason="no-key",
            )
        params = params or GenerationParams()
        system, turns = to_messages(messages, cache=self.config.cache_prefix)
        extra: dict[str, Any] = dict(self.config.options)
        if params.temperature is not None:
            extra["temperature"] = params.temperature
        if system:
            extra["system"] = system
        watch = Stopwatch()
        parts: list[str] = []
        usage = _Usage()
        finish: str | None = None
        try:
            events = await self._client.messages.create(
                model=self.config.model,
                messages=turns,  # type: ignore[arg-type]
                max_tokens=params.max_tokens or self.config.max_tokens,
                stream=True,
                **extra,
            )
            async for event in events:
                if event.type == "message_start":
                    usage.update(event.message.usage)
                elif event.type == "content_block_delta":
                    text = getattr(event.delta, "text", None)
                    if text:
                        watch.mark_first()
                        parts.append(text)
                        yield TextDelta(text)
                elif event.type == "message_delta":
                    usage.update(event.usage)
                    finish = event.delta.stop_reason or finish
        except anthropic.APIError as exc:
            raise self._translate(exc) from None
        yield Generation(
            text="".join(parts),
            model=self.config.model,
            input_tokens=usage.input + usage.cache_read + usage.cache_write,
            output_tokens=usage.output,
            latency_ms=watch.elapsed_ms,
            ttft_ms=watch.ttft_ms,
            finish_reason=_FINISH.get(finish or "", finish),
            cache_read_tokens=usage.cache_read,
            cache_write_tokens=usage.cache_write,
        )

    def _translate(self, exc: anthropic.APIError) -> ModelError:
        if isinstance(exc, anthropic.APITimeoutError):
            return ModelTimeout(self.name, f"{self.base_url} did not answer in time")
        if isinstance(exc, anthropic.APIConnectionError):
            return ModelUnavailable(
                self.name, f"cannot reach {self.base_url}: {exc.message}", reason="unreachable"
            )
        if not isinstance(exc, anthropic.APIStatusError):
            return ModelServerError(self.name, exc.message)
        # An error event mid-stream arrives on a 200 response: its type says what it was.
        kind = exc.type or _TYPE_OF_STATUS.get(exc.status_code, "api_error")
        message = exc.api_message or exc.message
        if kind == "rate_limit_error":
            return ModelRateLimited(
                self.name, f"rate limited: {message}", retry_after=retry_after(exc.response.headers)
            )
        if kind == "overloaded_error":
            return ModelUnavailable(
                self.name, f"Anthropic is overloaded: {message}", reason="overloaded"
            )
        if kind in {"authentication_error", "permission_error"}:
            return ModelUnavailable(
                self.name,
                f"the API key was refused: {message}",
                hint="check ANTHROPIC_API_KEY",
                reason="bad-key",
            )
        if kind == "not_found_error":
            return ModelNotFound(self.name, f"no model {self.config.model!r} at {self.base_url}")
        where = "mid-stream" if exc.status_code < 400 else f"HTTP {exc.status_code}"
        return ModelServerError(self.name, f"{where} {kind}: {message}")


def to_messages(
    messages: Sequence[ChatMessage], *, cache: bool = True
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """System blocks and turns for the Messages API, the cacheable prefix marked.

    System messages become the ``system`` blocks (the last one a cache breakpoint);
    consecutive turns of one role are merged, since the API wants them alternating.
    When the last user turn opens with course material, that material becomes a block
    of its own ending in a breakpoint, so the same passages are read from the cache.
    """
    system_text = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    system = [{"type": "text", "text": system_text}] if system_text else []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"][0]["text"] += "\n\n" + message.content
        else:
            turns.append({"role": role, "content": [{"type": "text", "text": message.content}]})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": "(no question)"}]})
    if not cache:
        return system, turns
    if system:
        system[-1]["cache_control"] = CACHE
    last = turns[-1]
    text = last["content"][0]["text"]
    end = text.find(MATERIAL_CLOSE)
    if last["role"] == "user" and text.startswith(MATERIAL_OPEN) and end > 0:
        end += len(MATERIAL_CLOSE)
        rest = text[end:].lstrip("\n") or "?"
        last["content"] = [
            {"type": "text", "text": text[:end], "cache_control": CACHE},
            {"type": "text", "text": rest},
        ]
    return system, turns


class _Usage:
    """The stream's usage so far: message_start has it all, message_delta updates it."""

    def __init__(self) -> None:
        self.input = self.output = self.cache_read = self.cache_write = 0

    def update(self, usage: Any) -> None:
        if usage is None:
            return
        self.input = _count(usage.input_tokens, self.input)
        self.output = _count(usage.output_tokens, self.output)
        self.cache_read = _count(usage.cache_read_input_tokens, self.cache_read)
        self.cache_write = _count(usage.cache_creation_input_tokens, self.cache_write)


def _count(value: int | None, before: int) -> int:
    return before if value is None else max(int(value), 0)


# Anthropic's stop reasons in the words the other providers use.
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}
_TYPE_OF_STATUS = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}
