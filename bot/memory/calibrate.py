"""Choosing and checking the match threshold on labelled question pairs.

eval/memory_pairs.jsonl holds ``{"a", "b", "same", "split"}``: paraphrases (same) and
near misses (not). The threshold is chosen on the ``tune`` split and only measured on
``test``: a wrong reuse is far worse than a miss, so it is the lowest threshold whose
precision on ``tune`` reaches the bar.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.jsonl import read_jsonl
from bot.memory.match import same_question, terms


@dataclass(frozen=True, slots=True)
class Pair:
    a: str
    b: str
    same: bool
    split: str  # tune | test


@dataclass(frozen=True, slots=True)
class Scores:
    precision: float  # 1.0 when nothing matched
    recall: float
    matched: int
    false_matches: int
    pairs: int


def load_pairs(path: Path) -> list[Pair]:
    def pair(_: int, row: Any) -> Pair:
        return Pair(str(row["a"]), str(row["b"]), bool(row["same"]), str(row["split"]))

    return read_jsonl(path, pair, "pair")


def score(
    pairs: Sequence[Pair], similarities: Sequence[float], threshold: float, *, guard: bool = True
) -> Scores:
    """Precision and recall of matching at ``threshold`` (with the key-term guard or not)."""
    matched = false = found = 0
    for pair, sim in zip(pairs, similarities, strict=True):
        if guard:
            hit = same_question(sim, terms(pair.a), terms(pair.b), threshold)
        else:
            hit = sim >= threshold
        matched += hit
        false += hit and not pair.same
        found += hit and pair.same
    positives = sum(p.same for p in pairs)
    return Scores(
        precision=(matched - false) / matched if matched else 1.0,
        recall=found / positives if positives else 0.0,
        matched=matched,
        false_matches=false,
        pairs=len(pairs),
    )


def choose_threshold(
    pairs: Sequence[Pair],
    similarities: Sequence[float],
    bar: float = 0.99,
    margin: float = 0.02,
    floor: float = 0.75,
) -> float:
    """The lowest threshold (plus a safety ``margin``) whose precision reaches ``bar``.

    Never below ``floor``: the key-term guard makes every threshold look precise on a
    small set, but questions with the same key terms and little else in common (word
    order, intent) are not the same question, and no labelled set can list them all.
    """
    candidates = sorted({round(s, 3) for s in similarities if s >= floor})
    for threshold in candidates:
        if score(pairs, similarities, threshold).precision >= bar:
            return min(1.0, round(threshold + margin, 3))
    return 1.0


# --- questions no one on the team wrote (eval/memory_pairs_faq.jsonl) ----------------------

# Mechanical rewrites of a question, for the external set's paraphrases: the team wrote
# these rules, not the pairs, so recall on them is a sanity check, not an outside measure.
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^How do I (.+)$", re.I), r"How can I \1"),
    (re.compile(r"^How can I (.+)$", re.I), r"How do I \1"),
    (re.compile(r"^How to (.+)$", re.I), r"How do I \1"),
    (re.compile(r"^Can I (.+)$", re.I), r"Is it possible to \1"),
)


@dataclass(frozen=True, slots=True)
class Question:
    """One real question and where it was published."""

    text: str
    source: str


def load_questions(path: Path) -> list[Question]:
    """The FAQ questions in ``path`` (``{"q", "source"}`` per line)."""
    return read_jsonl(path, lambda _, row: Question(str(row["q"]), str(row["source"])), "question")


def near_miss_pairs(questions: Sequence[Question]) -> list[Pair]:
    """Every two questions of the same FAQ: different questions, so none may match."""
    return [
        Pair(a.text, b.text, False, "external")
        for i, a in enumerate(questions)
        for b in questions[i + 1 :]
        if a.source.split()[0] == b.source.split()[0]
    ]


def rewritten_pairs(questions: Sequence[Question]) -> list[Pair]:
    """Each question against its rule-made rewrites and its lower-case, no-"?" form."""
    pairs = []
    for q in questions:
        body = q.text.rstrip("?")
        pairs.append(Pair(q.text, body.lower(), True, "external"))
        for pattern, replacement in _REWRITES:
            if pattern.match(body):
                pairs.append(Pair(q.text, pattern.sub(replacement, body) + "?", True, "external"))
    return pairs
