"""What search measures once per version of a course index: its relevance floor and the
vectors of its lessons' title cards.

How similar a question must be to a course before the course is said to answer it depends
on the course (reference prose scores lower against a learner's question than a tutorial
does) and on the embedder. So the floor is measured on the index itself: everyday
questions that no programming course answers (``PROBES``) are searched, and the floor
sits ``SPREAD`` standard deviations above their mean best similarity, never above
``MAX_SHARE`` of the course's own typical similarity (its lesson titles searched as
questions).

A lesson's title card is its title and summary, embedded on their own: search adds a
share of a question's similarity to the card to the lesson's best chunk, so a lesson that
is *about* the question outranks a long one that merely mentions it.

The result is kept in the index's sidecar, keyed by the index's stamp: one embedding call
per version of the index (a few dozen probes and one short text per lesson).
"""

from __future__ import annotations

import asyncio
import json
import statistics
from dataclasses import dataclass, field

import numpy as np

from bot.ports import Embedder
from knowledge.chunking import LessonInfo
from knowledge.index import CourseIndex

SPREAD = 2.0
MAX_SHARE = 0.8
MIN_FLOOR = 0.05
STORE_KEY = "search-calibration"
_VERSION = 1

# Everyday questions outside any programming course (not the evaluation's off-topic set).
PROBES: tuple[str, ...] = (
    "What will the weather be like tomorrow?",
    "Who won the last world cup?",
    "How do I bake sourdough bread?",
    "What is the population of Brazil?",
    "Recommend a good movie for tonight",
    "How many calories should I eat a day?",
    "How do I change the oil in my car?",
    "What is the best beach in Spain?",
    "How do I get rid of a headache?",
    "When was the French revolution?",
    "How do I knit a scarf?",
    "What's a good name for a cat?",
    "How far is the moon from the earth?",
    "How do I plant an apple tree?",
    "What are the symptoms of the flu?",
    "Who wrote Pride and Prejudice?",
    "How do I clean a leather sofa?",
    "What is the price of gold today?",
    "How do I learn to swim?",
    "Which wine goes with fish?",
    "how to lose weight fast",
    "best hiking trails near me",
    "how do i book a cheap flight",
    "why is the sky blue",
)


@dataclass(frozen=True, slots=True)
class Calibration:
    stamp: str | None  # the index version it was measured on
    floor: float  # the best similarity a question needs to be answered from the course
    off_topic: float = 0.0  # the probes' mean best similarity
    course: float = 0.0  # the lesson titles' median best similarity
    sources: tuple[str, ...] = ()  # lessons with a title card, in ``cards`` order
    cards: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))

    def card_similarity(self, vector: np.ndarray) -> dict[str, float]:
        """Cosine similarity of a (unit) question vector to every lesson's title card."""
        if not self.sources:
            return {}
        return dict(zip(self.sources, (self.cards @ vector).tolist(), strict=True))

    def __repr__(self) -> str:
        return (
            f"Calibration(floor={self.floor}, off_topic={self.off_topic}, "
            f"course={self.course}, cards={len(self.sources)})"
        )


def card_text(info: LessonInfo) -> str:
    return f"{info.display_title}\n{info.summary}".strip()


async def calibrate_index(index: CourseIndex, embedder: Embedder, stamp: str | None) -> Calibration:
    """The index's calibration: read from its sidecar, or measured and stored there."""
    stored = await asyncio.to_thread(index.store.get_meta, STORE_KEY)
    if stored:
        row = json.loads(stored)
        if row.get("stamp") == stamp and row.get("version") == _VERSION:
            return _from_row(row)
    if not await asyncio.to_thread(index.count):
        return Calibration(stamp, MIN_FLOOR)  # nothing to measure yet (not stored)
    lessons = await asyncio.to_thread(index.lessons)
    texts = [*PROBES, *(info.title for info in lessons), *(card_text(i) for i in lessons)]
    vectors = _unit(await embedder.embed(texts))
    probes, titles = len(PROBES), len(lessons)
    floor, off_topic, course = await asyncio.to_thread(
        _measure, index, vectors[:probes], vectors[probes : probes + titles]
    )
    calibration = Calibration(
        stamp, floor, off_topic, course,
        tuple(info.source for info in lessons), vectors[probes + titles :],
    )  # fmt: skip
    row = {
        "stamp": stamp, "version": _VERSION, "floor": floor, "off_topic": off_topic,
        "course": course, "sources": list(calibration.sources),
        "cards": np.round(calibration.cards, 5).tolist(),
    }  # fmt: skip
    await asyncio.to_thread(index.store.set_meta, STORE_KEY, json.dumps(row))
    return calibration


def _measure(
    index: CourseIndex, probes: np.ndarray, titles: np.ndarray
) -> tuple[float, float, float]:
    def best(vectors: np.ndarray) -> list[float]:
        hits = [index.dense(vector.tolist(), 1) for vector in vectors]
        return [max((hit.similarity for hit in found), default=0.0) for found in hits]

    off = best(probes)
    off_topic = statistics.fmean(off)
    floor = off_topic + SPREAD * statistics.pstdev(off)
    course = statistics.median(best(titles)) if len(titles) else 1.0
    floor = max(MIN_FLOOR, min(floor, MAX_SHARE * course))
    return round(floor, 4), round(off_topic, 4), round(course, 4)


def _unit(vectors: list[list[float]]) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms == 0, 1.0, norms)


def _from_row(row: dict) -> Calibration:  # type: ignore[type-arg]
    cards = np.asarray(row.get("cards") or [], dtype=np.float32)
    return Calibration(
        row["stamp"], row["floor"], row["off_topic"], row["course"],
        tuple(row.get("sources") or ()), cards.reshape(len(row.get("sources") or ()), -1),
    )  # fmt: skip
