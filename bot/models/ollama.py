"""Ollama provider: the official ``ollama`` AsyncClient, streaming with logprobs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import httpx
import ollama

from bot.config import OllamaModel
from bot.events import ChatMessage
from bot.models.base import Stopwatch, StreamingModel, as_dicts
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

DEFAULT_HOST = "http://127.0.0.1:11434"


class OllamaChatModel(StreamingModel):
    provider = "ollama"
    is_local = True

    def __init__(self, name: str, config: OllamaModel, host: str | None = None) -> None:
        self.name = name
        self.config = config
        self.host = config.host or host or DEFAULT_HOST
        # The client has no timeout by default; bound connecting tightly and reading per chunk.
        timeout = httpx.Timeout(config.timeout_s, connect=min(2.0, config.timeout_s))
        self._client = ollama.AsyncClient(host=self.host, timeout=timeout)

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> AsyncIterator[StreamEvent]:
        params = params or GenerationParams()
        options = dict(self.config.options)
        options["num_predict"] = params.max_tokens or self.config.max_tokens
        if params.temperature is not None:
            options["temperature"] = params.temperature
        watch = Stopwatch()
        parts: list[str] = []
        logprobs: list[float] = []
        final: ollama.ChatResponse | None = None
        try:
            chunks = await self._client.chat(
                model=self.config.model,
                messages=as_dicts(messages),
                stream=True,
                options=options,
                keep_alive=self.config.keep_alive,
                logprobs=self.config.logprobs or None,
            )
            async for chunk in chunks:
                text = chunk.message.content or ""
                token_logprobs = tuple(lp.logprob for lp in chunk.logprobs or ())
                logprobs.extend(token_logprobs)
                if text:
                    watch.mark_first()
                    parts.append(text)
                    yield TextDelta(text, token_logprobs)
                if chunk.done:
                    final = chunk
        except ollama.ResponseError as exc:
            raise self._translate(exc) from None
        except (ConnectionError, httpx.ConnectError) as exc:
            raise ModelUnavailable(
                self.name,
                f"cannot reach Ollama at {self.host}",
                hint="start it with `ollama serve` or point OLLAMA_HOST at it",
                reason="unreachable",
            ) from exc
        except httpx.TimeoutException as exc:
            raise ModelTimeout(self.name, f"Ollama at {self.host} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise ModelUnavailable(self.name, f"connection to Ollama failed: {exc!r}") from exc
        if final is None:
            raise ModelServerError(self.name, "Ollama's stream ended before it said done")
        yield Generation(
            text="".join(parts),
            model=self.config.model,
            input_tokens=final.prompt_eval_count or 0,
            output_tokens=final.eval_count or 0,
            latency_ms=watch.elapsed_ms,
            ttft_ms=watch.ttft_ms,
            finish_reason=final.done_reason,
            logprobs=tuple(logprobs) if logprobs else None,
        )

    async def warm(self) -> None:
        """Load the model into Ollama's memory (an empty chat) and keep it there."""
        try:
            await self._client.chat(
                model=self.config.model, messages=[], keep_alive=self.config.keep_alive
            )
        except ollama.ResponseError as exc:
            raise self._translate(exc) from None
        except (ConnectionError, httpx.HTTPError) as exc:
            raise ModelUnavailable(
                self.name,
                f"cannot reach Ollama at {self.host}",
                hint="start it with `ollama serve` or point OLLAMA_HOST at it",
                reason="unreachable",
            ) from exc

    async def aclose(self) -> None:
        await self._client.close()

    def _translate(self, exc: ollama.ResponseError) -> ModelError:
        status, message = exc.status_code, exc.error
        if status == 404 or "not found" in message.lower():
            return ModelNotFound(
                self.name,
                f"Ollama has no model {self.config.model!r}",
                hint=f"run `ollama pull {self.config.model}`",
            )
        if status == 429:
            return ModelRateLimited(self.name, f"Ollama is busy: {message}")
        if status == 503:
            return ModelUnavailable(self.name, f"Ollama's queue is full: {message}", reason="busy")
        where = "mid-stream" if status == -1 else f"HTTP {status}"
        return ModelServerError(self.name, f"Ollama error ({where}): {message}")
