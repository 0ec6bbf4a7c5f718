"""An embedder that remembers its latest texts: routing and memory embed the same question."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from bot.ports import Embedder


class CachedEmbedder:
    """Wraps an Embedder; the last ``size`` single texts' vectors are kept."""

    def __init__(self, inner: Embedder, size: int = 512) -> None:
        self.inner = inner
        self.name = inner.name
        self._size = size
        self._cache: OrderedDict[str, list[float]] = OrderedDict()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for text, vector in zip(missing, await self.inner.embed(missing), strict=True):
                self._cache[text] = vector
        found = []
        for text in texts:
            self._cache.move_to_end(text)
            found.append(self._cache[text])
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return found

    def __getattr__(self, name: str) -> object:  # warm(), load() ... of the inner embedder
        return getattr(self.inner, name)
