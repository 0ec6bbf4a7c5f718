"""OpenAI provider: the official ``openai`` AsyncOpenAI client, any compatible base_url."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from typing import Any

import openai

from bot.config import OpenAIModel
from bot.events import ChatMessage
from bot.models.base import CloudModel, Stopwatch, as_dicts, retry_after
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

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIChatModel(CloudModel):
    provider = "openai"
    config: OpenAIModel
    _client: openai.AsyncOpenAI | None

    def __init__(self, name: str, config: OpenAIModel, api_key: str | None) -> None:
        super().__init__(name, config, api_key, openai.AsyncOpenAI, DEFAULT_BASE_URL)

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> AsyncIterator[StreamEvent]:
        if self._client is None:
            raise ModelUnavailable(
                self.name,
                "no API key, so the cloud model cannot be reached",
                hint="set OPENAI_API_KEY",
                reason="no-key",
            )
        params = params or GenerationParams()
        extra: dict[str, Any] = dict(self.config.options)
        if params.temperature is not None:
            extra["temperature"] = params.temperature
        watch = Stopwatch()
        parts: list[str] = []
        usage = None
        finish = None
        try:
            chunks = await self._client.chat.completions.create(
                model=self.config.model,
                messages=as_dicts(messages),  # type: ignore[arg-type]
                stream=True,
                stream_options={"include_usage": True},
                max_completion_tokens=params.max_tokens or self.config.max_tokens,
                **extra,
            )
            async for chunk in chunks:
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    finish = choice.finish_reason or finish
                    text = choice.delta.content if choice.delta else None
                    if text:
                        watch.mark_first()
                        parts.append(text)
                        yield TextDelta(text)
        except openai.APIError as exc:
            raise self._translate(exc) from None
        text = "".join(parts)
        input_tokens = usage.prompt_tokens if usage else 0
        output_tokens = usage.completion_tokens if usage else 0
        estimated = not input_tokens and not output_tokens
        if estimated:  # a server that reports no usage (llama.cpp's): count, never free
            input_tokens = estimate_prompt_tokens(messages)
            output_tokens = estimate_tokens(text)
        yield Generation(
            text=text,
            model=self.config.model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            usage_estimated=estimated,
            latency_ms=watch.elapsed_ms,
            ttft_ms=watch.ttft_ms,
            finish_reason=finish,
        )

    def _translate(self, exc: openai.APIError) -> ModelError:
        if isinstance(exc, openai.APITimeoutError):
            return ModelTimeout(self.name, f"{self.base_url} did not answer in time")
        if isinstance(exc, openai.APIConnectionError):
            return ModelUnavailable(
                self.name, f"cannot reach {self.base_url}: {exc.message}", reason="unreachable"
            )
        if isinstance(exc, openai.RateLimitError):
            return ModelRateLimited(
                self.name,
                f"rate limited: {exc.message}",
                retry_after=retry_after(exc.response.headers),
            )
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return ModelUnavailable(
                self.name,
                f"the API key was refused: {exc.message}",
                hint="check OPENAI_API_KEY",
                reason="bad-key",
            )
        if isinstance(exc, openai.NotFoundError):
            return ModelNotFound(self.name, f"no model {self.config.model!r} at {self.base_url}")
        status = getattr(exc, "status_code", None)
        return ModelServerError(
            self.name, f"HTTP {status}: {exc.message}" if status else exc.message
        )


# Counting without the model's tokenizer (none is downloadable here): about four bytes of
# UTF-8 per token for English, fewer for other scripts and code, so bytes / 3 errs high.
BYTES_PER_TOKEN = 3
TOKENS_PER_MESSAGE = 4  # the chat format's role and separators, per message
TOKENS_PER_REPLY = 3  # the assistant turn's priming


def estimate_tokens(text: str) -> int:
    """A generous local count of ``text``'s tokens."""
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / BYTES_PER_TOKEN)


def estimate_prompt_tokens(messages: Sequence[ChatMessage]) -> int:
    """A generous local count of a chat prompt's tokens."""
    body = sum(estimate_tokens(m.content) + TOKENS_PER_MESSAGE for m in messages)
    return body + TOKENS_PER_REPLY
