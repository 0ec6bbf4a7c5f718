"""The Retriever port over a CourseIndex: dense + keyword (hybrid) search, plus navigation.

``navigate`` answers questions about the course's structure ("what is lesson 3 about?")
from its lessons' metadata, without a model; ``search`` finds passages for the rest.

Score of a chunk: its cosine similarity ``s`` to the question, pulled towards 1 by keyword
evidence ``w``: ``s + weight * w * (1 - s)``, where ``w`` is the chunk's BM25 score relative
to the best keyword hit, times the share of the question's terms it contains. With no
keyword match the score is the plain cosine similarity, so ``relevance_threshold`` reads
as one. Passages scoring below the threshold are dropped: an empty list means nothing in
the course is relevant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from bot.config import KnowledgeSection
from bot.ports import Embedder, Passage
from knowledge.index import CourseIndex, Hit
from knowledge.navigation import (
    NavigationAnswer,
    NavigationQuery,
    answer_navigation,
    has_structure,
    needs_search,
    parse_navigation,
    structural_passages,
)
from knowledge.store import query_terms

MAX_QUERY_CHARS = 2000
MIN_CANDIDATES = 20


@dataclass(frozen=True, slots=True)
class SearchOptions:
    k: int
    relevance_threshold: float
    keyword_weight: float

    @classmethod
    def from_config(cls, config: KnowledgeSection) -> SearchOptions:
        return cls(config.k, config.relevance_threshold, config.keyword_weight)


class CourseRetriever:
    """``await retriever.search("how do for loops work?")`` -> passages, best first."""

    def __init__(self, index: CourseIndex, embedder: Embedder, options: SearchOptions) -> None:
        self.index = index
        self.embedder = embedder
        self.options = options

    async def search(self, query: str, k: int | None = None) -> list[Passage]:
        query = query.replace("\x00", "").strip()[:MAX_QUERY_CHARS]
        if not query:
            return []
        k = k or self.options.k
        vectors = await self.embedder.embed([query])
        return await asyncio.to_thread(self.search_with_vector, query, vectors[0], k)

    async def navigate(self, question: str, recent: Sequence[str] = ()) -> NavigationAnswer | None:
        """The finished answer to a course-navigation question, from the course's structure.

        None when ``question`` is not about the course's structure, or the course has
        none (unnumbered lessons): the model answers then. ``recent`` holds the
        conversation's earlier messages, oldest first ("what's next?" continues from the
        last lesson they name). No model is called; a search runs only when the question
        names a lesson by a subject its titles do not contain.
        """
        query = parse_navigation(question.replace("\x00", "").strip()[:MAX_QUERY_CHARS])
        if query is None:
            return None
        lessons = await asyncio.to_thread(self.index.lessons)
        if not has_structure(lessons):
            return None
        located = None
        if (words := needs_search(query, lessons)) is not None:
            passages = await self.search(words, k=3)
            located = next(
                (p.source for p in passages if p.metadata.get("kind") != "structure"), None
            )
        return answer_navigation(query, lessons, located=located, recent=recent)

    def search_with_vector(self, query: str, vector: Sequence[float], k: int) -> list[Passage]:
        """The blocking part of ``search``, for a question already embedded."""
        passages = self._hybrid(query, vector, k)
        nav = parse_navigation(query)
        if nav is None:
            return passages
        return self._with_structure(nav, passages, k)

    def _hybrid(self, query: str, vector: Sequence[float], k: int) -> list[Passage]:
        n = max(MIN_CANDIDATES, 4 * k)
        hits = {hit.chunk_id: hit for hit in self.index.dense(vector, n)}
        weight = self.options.keyword_weight
        keyword = self.index.store.keyword_search(query_terms(query), n) if weight > 0 else {}
        missing = [chunk_id for chunk_id in keyword if chunk_id not in hits]
        hits.update((hit.chunk_id, hit) for hit in self.index.fetch(missing, vector))
        best_bm25 = max((bm25 for bm25, _ in keyword.values()), default=0.0)
        scored = []
        for hit in hits.values():
            bm25, coverage = keyword.get(hit.chunk_id, (0.0, 0.0))
            lexical = (bm25 / best_bm25) * coverage if best_bm25 > 0 else 0.0
            score = hit.similarity + weight * lexical * (1.0 - hit.similarity)
            if score >= self.options.relevance_threshold:
                scored.append((score, lexical, hit))
        scored.sort(key=lambda row: row[0], reverse=True)
        return [_passage(hit, score, lexical) for score, lexical, hit in scored[:k]]

    def _with_structure(
        self, nav: NavigationQuery, passages: list[Passage], k: int
    ) -> list[Passage]:
        fallback = passages[0].source if passages else None
        structure = structural_passages(nav, self.index.lessons(), fallback)
        if not structure:
            return passages
        about = {p.source for p in structure}
        ranked = sorted(passages, key=lambda p: p.source not in about)  # stable: same lesson first
        return [*structure, *ranked][:k]


def _passage(hit: Hit, score: float, lexical: float) -> Passage:
    meta = hit.metadata
    return Passage(
        text=hit.text,
        source=str(meta.get("source", "")),
        title=str(meta.get("title", "")),
        score=round(score, 4),
        metadata={
            "chunk_id": hit.chunk_id,
            "lesson": meta.get("lesson"),
            "module": meta.get("module"),
            "heading": meta.get("heading", ""),
            "dense": round(hit.similarity, 4),
            "keyword": round(lexical, 4),
        },
    )
