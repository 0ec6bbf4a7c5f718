"""Keyword ranking of whole lessons: BM25 from the ``bm25s`` library, over each lesson's text.

A lesson's text is all of its chunks with their title paths (what the sidecar stores for
keyword search), so a lesson is found by every word it uses, not only by the words of one
chunk. Terms are lowercased, stripped of ``knowledge.store.STOPWORDS`` and stemmed with
the Snowball English stemmer (PyStemmer), on both sides.

Measured against SQLite FTS5's ``bm25()`` over single chunks (the keyword ranking before),
with everything else equal, on the tune split of ``bench/retrieval_quality.py``: over a
grid of fusion weights, the language-reference course's hit@1 averages 0.73 instead of
0.66, the other two courses are unchanged.

The index lives in memory and is built from the sidecar (a few seconds at 100,000 chunks),
once per version of the course index (its ``stamp``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from knowledge.store import STOPWORDS, CourseStore

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG


@dataclass(frozen=True, slots=True)
class LessonBM25:
    """``LessonBM25.build(store, stamp).top(["loop", "break"], 40)`` -> [(source, score)]."""

    stamp: str | None
    sources: tuple[str, ...]
    model: Any  # bm25s.BM25, or None for an empty course
    stemmer: Any

    @classmethod
    def build(cls, store: CourseStore, stamp: str | None) -> LessonBM25:
        import bm25s
        import Stemmer

        stemmer = Stemmer.Stemmer("english")
        sources, texts = [], []
        for source, text in store.lesson_texts():
            sources.append(source)
            texts.append(text)
        if not texts:
            return cls(stamp, (), None, stemmer)
        tokens = bm25s.tokenize(
            texts, stopwords=sorted(STOPWORDS), stemmer=stemmer, show_progress=False
        )
        model = bm25s.BM25()
        model.index(tokens, show_progress=False)
        log.debug("keyword index: %d lessons", len(sources))
        return cls(stamp, tuple(sources), model, stemmer)

    def top(self, terms: Sequence[str], n: int) -> list[tuple[str, float]]:
        """The ``n`` lessons with the best BM25 score for ``terms`` (lowercase words, as
        ``query_terms`` gives them), best first; lessons that match no term are left out."""
        if self.model is None or not terms:
            return []
        vocab = self.model.vocab_dict
        ids = [vocab[s] for s in dict.fromkeys(self.stemmer.stemWords(list(terms))) if s in vocab]
        if not ids:
            return []
        scores = self.model.get_scores(ids)
        count = min(n, len(scores))
        best = np.argpartition(-scores, count - 1)[:count]
        ranked = sorted(best.tolist(), key=lambda i: (-scores[i], i))
        return [(self.sources[i], float(scores[i])) for i in ranked if scores[i] > 0]
