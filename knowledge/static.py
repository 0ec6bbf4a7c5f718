"""A third ranking of lessons: static word embeddings from the ``wordllama`` package.

WordLlama's vectors are token embeddings distilled from a large language model's
embedding layer (256 dimensions); they ship inside the wheel
(``weights/l2_supercat_256.safetensors``), and a text's vector is the mean of its tokens'.
They are read from the installed package's own files, never downloaded
(``WordLlama.load()`` looks for the packaged tokenizer in the wrong folder and then
fetches it from the network).

Each lesson's whole text (all chunks with their title paths, as for BM25) is embedded
once per version of the course index, word by word (``embed_words``: about a second at
100,000 chunks); a question's vector costs well under a millisecond.
Unlike the sentence embedder, which sees one chunk at a time, this ranks the lesson as a
whole by the words it uses, which reaches lessons the chunk-level ranking misses on the
language-reference course (``bench/retrieval_quality.py --wordllama``).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.store import CourseStore

DIMENSIONS = 256
_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class _Model:
    tokenizer: Any  # tokenizers.Tokenizer
    weights: np.ndarray  # one row per token id


@cache
def load_wordllama() -> _Model:
    """The packaged WordLlama tokenizer and token vectors, read from the wheel's own files."""
    import wordllama
    from safetensors import safe_open
    from tokenizers import Tokenizer

    base = Path(wordllama.__file__).parent
    tokenizer = Tokenizer.from_file(str(base / "tokenizers" / "l2_supercat_tokenizer_config.json"))
    tokenizer.no_truncation()  # a whole lesson counts, as in WordLlama's own inference
    tokenizer.no_padding()
    weights_file = base / "weights" / f"l2_supercat_{DIMENSIONS}.safetensors"
    with safe_open(str(weights_file), framework="np") as f:
        weights = np.ascontiguousarray(f.get_tensor("embedding.weight"), dtype=np.float32)
    return _Model(tokenizer, weights)


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit vectors of ``texts``, one row each: the mean of the text's token vectors, as
    WordLlama pools them, summed over distinct tokens so a long lesson costs no more
    memory than its vocabulary."""
    with _LOCK:
        model = load_wordllama()
    out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    if not texts:
        return out
    encoded = model.tokenizer.encode_batch(list(texts), add_special_tokens=False)
    for row, encoding in enumerate(encoded):
        ids = np.clip(np.asarray(encoding.ids, dtype=np.int64), 0, len(model.weights) - 1)
        if not len(ids):
            continue
        tokens, counts = np.unique(ids, return_counts=True)
        vector = counts.astype(np.float32) @ model.weights[tokens]
        out[row] = vector / (float(np.linalg.norm(vector)) or 1.0)
    return out


def embed_words(texts: Sequence[str]) -> np.ndarray:
    """Unit vectors of long ``texts``, as ``embed`` gives them up to tokens that cross a
    space: each distinct whitespace-separated word is tokenized once, and a text's vector
    is its words' token vectors weighted by how often it uses them. Tokenizing whole
    lessons is slow (about 30 s at 100,000 chunks); this takes a few seconds."""
    with _LOCK:
        model = load_wordllama()
    out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    bags = [Counter(text.split()) for text in texts]
    words = list(dict.fromkeys(word for bag in bags for word in bag))
    if not words:
        return out
    position = {word: i for i, word in enumerate(words)}
    vectors = np.zeros((len(words), DIMENSIONS), dtype=np.float32)
    last = len(model.weights) - 1
    for i, encoding in enumerate(model.tokenizer.encode_batch(words, add_special_tokens=False)):
        ids = np.clip(np.asarray(encoding.ids, dtype=np.int64), 0, last)
        vectors[i] = model.weights[ids].sum(axis=0)
    for row, bag in enumerate(bags):
        if not bag:
            continue
        rows = np.fromiter((position[word] for word in bag), dtype=np.int64, count=len(bag))
        counts = np.fromiter(bag.values(), dtype=np.float32, count=len(bag))
        vector = counts @ vectors[rows]
        out[row] = vector / (float(np.linalg.norm(vector)) or 1.0)
    return out


@dataclass(frozen=True, slots=True)
class LessonStatic:
    """``LessonStatic.build(store, stamp).top("round a number up", 40)`` -> [(source, sim)]."""

    stamp: str | None
    sources: tuple[str, ...]
    vectors: np.ndarray  # one unit row per source

    @classmethod
    def build(cls, store: CourseStore, stamp: str | None) -> LessonStatic:
        rows = store.lesson_texts()
        return cls(stamp, tuple(s for s, _ in rows), embed_words([text for _, text in rows]))

    def top(self, query: str, n: int) -> list[tuple[str, float]]:
        """The ``n`` lessons most similar to ``query``, best first."""
        if not self.sources or not query.strip():
            return []
        sims = self.vectors @ embed([query])[0]
        count = min(n, len(sims))
        best = np.argpartition(-sims, count - 1)[:count]
        ranked = sorted(best.tolist(), key=lambda i: (-sims[i], i))
        return [(self.sources[i], float(sims[i])) for i in ranked]
