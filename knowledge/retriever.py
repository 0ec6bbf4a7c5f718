"""The Retriever port over a CourseIndex: dense + keyword (hybrid) search, plus navigation.

``navigate`` answers questions about the course's structure ("what is lesson 3 about?")
from its lessons' metadata, without a model; ``search`` finds passages for the rest.

How ``search`` ranks (each step kept because it helped on courses the team did not write,
see ``bench/retrieval_quality.py``):

1. Misspelt words are corrected against the course's own words ("finalyl" -> "finally",
   ``knowledge.spelling``), and very short questions are rewritten for the embedder:
   Python's operator symbols get their names ("what does // do" also says "floor
   division"), so the embedder and keyword search see words (``knowledge.rewrite``).
2. Candidates come from the dense index (cosine similarity of chunk vectors) and from
   keyword search: BM25 (the ``bm25s`` library) over each lesson's whole text, title
   paths included (``knowledge.lexical``; ``keyword_index = "chunks"`` ranks lessons by
   their best chunk in SQLite FTS5's BM25 instead, as before).
3. Results are documents, not chunks: each source is ranked by its best chunk in the dense
   list (plus ``card_weight`` times the question's similarity to the lesson's title card,
   its title and summary embedded on their own) and by its keyword rank, and the two
   document rankings are fused by reciprocal rank fusion
   (``1 / (rrf_k + rank)``, keyword rank weighted by ``keyword_weight``). A third ranking
   joins the fusion with weight ``static_weight``: whole lessons by the cosine similarity
   of their WordLlama static embeddings to the question's (``knowledge.static``). A
   source's passage is its best chunk, so no list names one source twice.
4. The relevance cut transfers between courses: a question is answered from the course
   only when its best dense similarity clears a floor calibrated on this index (how close
   everyday off-topic questions come to it, ``knowledge.calibration``), and a source stays
   in the list only while its similarity clears that floor and ``relative_cut`` times the
   best one.

A passage's ``score`` is its cosine similarity to the question, capped by the score of the
passage above it so the list reads in order; ``metadata`` carries the fused rank score
(scaled to 0..1, 1.0: first in both rankings), the similarity and both ranks.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from bot.config import KnowledgeSection
from bot.ports import Embedder, Passage
from knowledge.calibration import Calibration, calibrate_index
from knowledge.index import CourseIndex, Hit
from knowledge.lexical import LessonBM25
from knowledge.navigation import (
    NavigationAnswer,
    NavigationQuery,
    answer_navigation,
    has_structure,
    needs_search,
    parse_navigation,
    structural_passages,
)
from knowledge.rewrite import rewrite_query
from knowledge.spelling import CourseSpelling
from knowledge.static import LessonStatic
from knowledge.store import CourseStore, query_terms

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_QUERY_CHARS = 2000
MIN_CANDIDATES = 40
MAX_SECTIONS = 4  # a passage's other close sections, carried for the course quote


@dataclass(frozen=True, slots=True)
class SearchOptions:
    """How search ranks and cuts (``[knowledge]`` in config.toml)."""

    k: int
    relevance_threshold: float  # the floor when ``relevance`` is "fixed" (or uncalibrated)
    keyword_weight: float  # weight of the keyword ranking in the fusion; 0 = dense only
    relevance: str = "calibrated"  # "calibrated" per index, or "fixed"
    relative_cut: float = 0.6  # keep sources whose similarity is >= this share of the best
    rrf_k: int = 60
    card_weight: float = 0.2  # share of the lesson's title-card similarity in its dense rank
    rewrite_short: bool = True
    correct_spelling: bool = True
    distinct_sources: bool = True
    keyword_index: str = "lessons"  # BM25 over whole lessons (bm25s), or "chunks" (FTS5)
    static_weight: float = 0.0  # weight of the WordLlama lesson ranking in the fusion; 0 = off

    @classmethod
    def from_config(cls, config: KnowledgeSection) -> SearchOptions:
        return cls(
            config.k,
            config.relevance_threshold,
            config.keyword_weight,
            relevance=config.relevance,
            relative_cut=config.relative_cut,
            rrf_k=config.rrf_k,
            card_weight=config.card_weight,
            static_weight=config.wordllama_weight,
        )


class PerIndex(Generic[T]):
    """A structure built from the course index, and built again when the index changes
    (its ``stamp``); one build at a time."""

    def __init__(self, build: Callable[[CourseStore, str | None], T]) -> None:
        self._build = build
        self._built: tuple[str | None, T] | None = None
        self._lock = threading.Lock()

    def get(self, store: CourseStore) -> T:
        stamp = store.get_meta("stamp")
        with self._lock:
            if self._built is None or self._built[0] != stamp:
                self._built = (stamp, self._build(store, stamp))
            return self._built[1]


class CourseRetriever:
    """``await retriever.search("how do for loops work?")`` -> passages, best first."""

    def __init__(self, index: CourseIndex, embedder: Embedder, options: SearchOptions) -> None:
        self.index = index
        self.embedder = embedder
        self.options = options
        self.calibration: Calibration | None = None
        self._calibrating = asyncio.Lock()
        self._bm25 = PerIndex(LessonBM25.build)
        self._wordllama = PerIndex(LessonStatic.build)
        self._spelling = PerIndex(CourseSpelling.build)

    async def search(self, query: str, k: int | None = None) -> list[Passage]:
        query = query.replace("\x00", "").strip()[:MAX_QUERY_CHARS]
        if not query:
            return []
        k = k or self.options.k
        await self.calibrate()
        vectors = await self.embedder.embed([self.embedding_text(query)])
        return await asyncio.to_thread(self.search_with_vector, query, vectors[0], k)

    def embedding_text(self, query: str) -> str:
        """What is embedded for ``query``: typos corrected, short questions rewritten."""
        return self._rewritten(self.corrected(query))

    def _rewritten(self, query: str) -> str:
        """``query`` with its operators named, when it is very short (and that is on)."""
        return rewrite_query(query) if self.options.rewrite_short else query

    def corrected(self, query: str) -> str:
        """``query`` with misspelt words replaced by the course's closest words."""
        if not self.options.correct_spelling:
            return query
        return self._spelling.get(self.index.store).correct(query)

    async def calibrate(self) -> Calibration | None:
        """This index's relevance floor and title cards, measured once per version of the
        index. None when they cannot be measured now (search then uses the fixed
        ``relevance_threshold`` and tries again on the next question)."""
        async with self._calibrating:
            stamp = await asyncio.to_thread(self.index.store.get_meta, "stamp")
            if self.calibration is None or self.calibration.stamp != stamp:
                try:
                    calibration = await calibrate_index(self.index, self.embedder, stamp)
                except Exception as exc:  # e.g. an embedding server that is down
                    log.warning("cannot calibrate the course index: %s: %s",
                                type(exc).__name__, exc)  # fmt: skip
                    self.calibration = None
                    return None
                self.calibration = calibration
                log.info("course index %r: %s", self.index.name, calibration)
                if self.options.keyword_weight > 0:
                    await asyncio.to_thread(self._lessons_bm25)  # built here, not mid-search
                if self.options.static_weight > 0:
                    await asyncio.to_thread(self._lessons_static)
                if self.options.correct_spelling:
                    await asyncio.to_thread(self._spelling.get, self.index.store)
            return self.calibration

    @property
    def floor(self) -> float:
        """The best dense similarity a question needs to be answered from the course."""
        if self.options.relevance == "calibrated" and self.calibration is not None:
            return self.calibration.floor
        return self.options.relevance_threshold

    async def navigate(self, question: str, recent: Sequence[str] = ()) -> NavigationAnswer | None:
        """The finished answer to a course-navigation question, from the course's structure.

        None when ``question`` is not about the course's structure, or the course has
        none (unnumbered lessons): the model answers then. ``recent`` holds the
        conversation's earlier messages, oldest first ("what's next?" continues from the
        last lesson they name). No model is called; a search runs only when the question
        names a lesson by a subject its titles do not contain.
        """
        text = question.replace("\x00", "").strip()[:MAX_QUERY_CHARS]
        query = parse_navigation(await asyncio.to_thread(self.corrected, text))  # "leson 3"
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
        """The blocking part of ``search``, for a question already embedded
        (``embedding_text(query)`` is what ``vector`` should embed)."""
        searched = self.corrected(query)
        passages = self._hybrid(searched, vector, k)
        nav = parse_navigation(query)
        if nav is not None:
            passages = self._with_structure(nav, passages, k)
        for passage in passages:  # what was searched for, typos corrected, for the quote
            passage.metadata["query"] = searched
        return passages

    def _hybrid(self, query: str, vector: Sequence[float], k: int) -> list[Passage]:
        """The fused search for ``query``, its typos already corrected."""
        options = self.options
        n = max(MIN_CANDIDATES, 8 * k)
        dense = self.index.dense(vector, n)
        # The dense candidates are the most similar chunks of all: the best is among them.
        best_similarity = max((hit.similarity for hit in dense), default=-1.0)
        if not dense or best_similarity < self.floor:
            return []  # nothing in the course is about this
        terms = query_terms(self._rewritten(query))  # already corrected
        weight = options.keyword_weight
        if not options.distinct_sources:
            keyword = self.index.store.keyword_search(terms, n) if weight > 0 and terms else []
            return self._chunks(dense, keyword, vector, best_similarity, k)
        docs: dict[str, _Doc] = {}
        for rank, hit in enumerate(self._dense_sources(dense, vector), 1):
            docs[_source(hit)] = _Doc(hit, dense_rank=rank)
        for hit in dense:  # the source's other close sections, for quoting the right one
            doc = docs[_source(hit)]
            if hit is not doc.hit and len(doc.sections) < MAX_SECTIONS:
                doc.sections.append(hit)
        keyword = self._keyword_sources(terms, n) if weight > 0 and terms else []
        others: dict[str, _Other] = {}  # sources only keyword or static ranking found
        for rank, (source, chunk_id) in enumerate(keyword, 1):
            if source in docs:
                docs[source].keyword_rank = rank
            else:
                others[source] = _Other(chunk_id, keyword_rank=rank)
        if options.static_weight > 0:
            for rank, (source, _) in enumerate(self._lessons_static().top(query, n), 1):
                if source in docs:
                    docs[source].static_rank = rank
                else:
                    others.setdefault(source, _Other(None)).static_rank = rank
        ranked = self._ranked(list(docs.values()), best_similarity, k)
        # A source only keyword search found needs a chunk and its similarity (for the cut):
        # fetched only for the first few that could still make the list.
        bar = ranked[-1][0] if len(ranked) >= k else 0.0
        hopeful = sorted(
            ((self._fused(o.keyword_rank, o.static_rank), s, o) for s, o in others.items()),
            key=lambda row: -row[0],
        )
        hopeful = [row for row in hopeful if row[0] > bar][:k]
        if hopeful:
            wanted: dict[str, _Other] = {}
            for _, source, other in hopeful:
                chunk_id = other.chunk_id or self.index.store.best_chunk(source, terms)
                if chunk_id is not None:
                    wanted[chunk_id] = other
            fetched = self.index.fetch(list(wanted), vector)
            extra = [
                _Doc(
                    hit,
                    keyword_rank=wanted[hit.chunk_id].keyword_rank,
                    static_rank=wanted[hit.chunk_id].static_rank,
                )
                for hit in fetched
            ]
            ranked = self._ranked([*docs.values(), *extra], best_similarity, k)
        return _passages(ranked)

    def _fused(self, keyword_rank: int, static_rank: int, dense_rank: int = 0) -> float:
        """A source's fused score, scaled so 1.0 is first in every ranking."""
        options = self.options
        fused = 0.0
        if dense_rank:
            fused += 1.0 / (options.rrf_k + dense_rank)
        if keyword_rank:
            fused += options.keyword_weight / (options.rrf_k + keyword_rank)
        if static_rank:
            fused += options.static_weight / (options.rrf_k + static_rank)
        return fused / self._top_score

    def _lessons_static(self) -> LessonStatic:
        """The lessons' WordLlama vectors, built once per version of the course index."""
        return self._wordllama.get(self.index.store)

    def _keyword_sources(self, terms: list[str], n: int) -> list[tuple[str, str | None]]:
        """Sources by keyword rank, best first, each with its best chunk when known."""
        if self.options.keyword_index == "chunks":
            found = self.index.store.keyword_search(terms, n)
            return [(source, chunk_id) for chunk_id, source in _first_per_source(found)]
        return [(source, None) for source, _ in self._lessons_bm25().top(terms, n)]

    def _lessons_bm25(self) -> LessonBM25:
        """The lessons' keyword index, built once per version of the course index."""
        return self._bm25.get(self.index.store)

    def _dense_sources(self, dense: list[Hit], vector: Sequence[float]) -> list[Hit]:
        """Each source's best chunk, ranked by its similarity plus a share of the
        similarity of the lesson's title card."""
        best = _by_source(dense)
        weight = self.options.card_weight
        if weight <= 0 or self.calibration is None or not self.calibration.sources:
            return best
        unit = np.asarray(vector, dtype=np.float32)
        unit /= float(np.linalg.norm(unit)) or 1.0
        cards = self.calibration.card_similarity(unit)
        return sorted(best, key=lambda h: -(h.similarity + weight * cards.get(_source(h), 0.0)))

    def _chunks(
        self,
        dense: list[Hit],
        keyword: list[tuple[str, str]],
        vector: Sequence[float],
        best_similarity: float,
        k: int,
    ) -> list[Passage]:
        """The same fusion over chunks (sources may repeat): for comparison in benches."""
        docs = {hit.chunk_id: _Doc(hit, dense_rank=rank) for rank, hit in enumerate(dense, 1)}
        missing = [chunk_id for chunk_id, _ in keyword if chunk_id not in docs]
        fetched = {hit.chunk_id: hit for hit in self.index.fetch(missing, vector)}
        for rank, (chunk_id, _) in enumerate(keyword, 1):
            if chunk_id in docs:
                docs[chunk_id].keyword_rank = rank
            elif chunk_id in fetched:
                docs[chunk_id] = _Doc(fetched[chunk_id], keyword_rank=rank)
        ranked = self._ranked(list(docs.values()), best_similarity, k)
        return _passages(ranked)

    @property
    def _top_score(self) -> float:
        """The fused score of a source first in both rankings (scores are scaled by it)."""
        options = self.options
        return (1.0 + options.keyword_weight + options.static_weight) / (options.rrf_k + 1)

    def _ranked(self, docs: list[_Doc], best_similarity: float, k: int) -> list[tuple[float, _Doc]]:
        """The best ``k`` sources that pass the cut, with their scaled fused scores."""
        options = self.options
        cut = max(self.floor, options.relative_cut * best_similarity)
        scored = []
        for doc in docs:
            if doc.hit.similarity < cut:
                continue
            fused = self._fused(doc.keyword_rank, doc.static_rank, doc.dense_rank)
            scored.append((fused, doc))
        scored.sort(key=lambda row: (-row[0], -row[1].hit.similarity))
        return scored[:k]

    def _with_structure(
        self, nav: NavigationQuery, passages: list[Passage], k: int
    ) -> list[Passage]:
        fallback = passages[0].source if passages else None
        structure = structural_passages(nav, self.index.lessons(), fallback)
        if not structure:
            return passages
        about = {p.source for p in structure}
        ranked = [p for p in passages if p.source not in about]  # each source once
        return [*structure, *ranked][:k]


@dataclass(slots=True)
class _Doc:
    hit: Hit  # the source's best chunk
    dense_rank: int = 0  # 0: not among the dense candidates
    keyword_rank: int = 0
    static_rank: int = 0
    sections: list[Hit] = field(default_factory=list)  # its next most similar chunks


@dataclass(slots=True)
class _Other:
    chunk_id: str | None  # its best chunk, when the ranking that found it knows it
    keyword_rank: int = 0
    static_rank: int = 0


def _source(hit: Hit) -> str:
    return str(hit.metadata.get("source", ""))


def _by_source(hits: list[Hit]) -> list[Hit]:
    """Each source's first (best) hit, in order."""
    seen: dict[str, Hit] = {}
    for hit in hits:
        seen.setdefault(_source(hit), hit)
    return list(seen.values())


def _first_per_source(keyword: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each source's first (best) keyword chunk, in order."""
    seen: dict[str, tuple[str, str]] = {}
    for chunk_id, source in keyword:
        seen.setdefault(source, (chunk_id, source))
    return list(seen.values())


def _passages(ranked: list[tuple[float, _Doc]]) -> list[Passage]:
    """Passages in rank order; each score is the passage's similarity to the question,
    capped by the score above it (so the list reads in order, and the gaps mean what
    cosine gaps mean)."""
    passages = []
    cap = 1.0
    for fused, doc in ranked:
        cap = min(cap, max(doc.hit.similarity, 0.0001))
        passages.append(_passage(doc, cap, fused))
    return passages


def _passage(doc: _Doc, score: float, fused: float) -> Passage:
    hit = doc.hit
    meta = hit.metadata
    return Passage(
        text=hit.text,
        source=_source(hit),
        title=str(meta.get("title", "")),
        score=round(min(1.0, score), 4),
        metadata={
            "chunk_id": hit.chunk_id,
            "lesson": meta.get("lesson"),
            "module": meta.get("module"),
            "heading": meta.get("heading", ""),
            "dense": round(hit.similarity, 4),
            "fused": round(fused, 4),
            "dense_rank": doc.dense_rank or None,
            "keyword_rank": doc.keyword_rank or None,
            "static_rank": doc.static_rank or None,
            "sections": [
                {"text": s.text, "title": str(s.metadata.get("title", "")), "score": s.similarity}
                for s in doc.sections
            ],
        },
    )
