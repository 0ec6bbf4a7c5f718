"""Question sets of the evaluation courses, and the check that an answer states a key fact.

``eval/courses/<course>.jsonl`` holds one question a line::

    {"id": "pyref-01", "question": "whats the diff between break and continue",
     "lesson": "50-break.md", "kind": "content", "split": "tune",
     "key": [["terminat", "exit", "stop"], ["next cycle", "skip"]]}

``key`` is a list of groups: an answer states the key fact when, for every group, it
contains one of the group's alternatives (case-folded, starting at a word boundary, so
``terminat`` matches "terminates"). ``lesson`` is the file that answers (null when the
whole course does, e.g. "how many lessons"). ``split`` is ``tune`` or ``holdout``: tune on
the first, only measure on the second.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval" / "courses"
COURSES = ("sample", "pyref", "stdlib")
_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "`": None, "*": None})
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    question: str
    lesson: str | None
    kind: str  # "content" or "navigation"
    split: str  # "tune" or "holdout"
    key: tuple[tuple[str, ...], ...]


def load_questions(course: str, split: str | None = None) -> list[Question]:
    rows = (QUESTIONS / f"{course}.jsonl").read_text(encoding="utf-8").splitlines()
    questions = []
    for line in rows:
        if not line.strip():
            continue
        row = json.loads(line)
        if split and row["split"] != split:
            continue
        key = tuple(tuple(group) for group in row["key"])
        questions.append(
            Question(row["id"], row["question"], row["lesson"], row["kind"], row["split"], key)
        )
    return questions


def with_typo(question: str, rng: random.Random) -> str:
    """``question`` with one typo in one of its words of five letters or more."""
    words = question.split()
    longer = [i for i, word in enumerate(words) if len(word) >= 5 and word.isalpha()]
    if not longer:
        return question
    i = rng.choice(longer)
    word, j = words[i], rng.randrange(1, len(words[i]) - 1)
    kind = rng.choice(("swap", "drop", "double"))
    if kind == "swap":
        word = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    elif kind == "drop":
        word = word[:j] + word[j + 1 :]
    else:
        word = word[:j] + word[j] + word[j:]
    words[i] = word
    return " ".join(words)


def normalize(text: str) -> str:
    """Case-folded, curly quotes straightened, backticks and emphasis dropped, one space."""
    return _SPACE.sub(" ", text.translate(_QUOTES).casefold())


def states(text: str, key: tuple[tuple[str, ...], ...]) -> bool:
    """Every group of ``key`` has an alternative in ``text``, at a word start."""
    haystack = normalize(text)
    return all(any(_found(normalize(alt), haystack) for alt in group) for group in key)


def _found(needle: str, haystack: str) -> bool:
    start = haystack.find(needle)
    while start != -1:
        if start == 0 or not (haystack[start - 1].isalnum() and needle[0].isalnum()):
            return True
        start = haystack.find(needle, start + 1)
    return False
