"""The course's exercises, read from its lessons, and how much code an answer holds.

Exercises are known from the course itself: the numbered items of a lesson's
"Exercises" section, a lesson whose front matter says ``graded: true``, or a file
matched by ``[teaching] protected``. Pure functions over texts: the composition root
reads the files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^\s*(\d+)[.)]\s+(.*)$")
_WORD = re.compile(r"[a-z][a-z0-9_]+")
_NAME = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)\s*(?:\(|`)")
_SNAKE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
# A line of prose that is really code (an answer that forgot its fences).
_CODE_LINE = re.compile(
    r"^\s*(def |class |for .+ in .+:|while .+:|if .+:|elif .+:|else\s*:|try\s*:|except\b"
    r"|return\b|import \w|from [\w.]+ import|with .+:|print\(|yield\b|break$|continue$"
    r"|[A-Za-z_][\w.\[\]'\"]*\s*(?:[-+*/%]|//)?=\s*[^=\s])"
)
_REFERENCE = re.compile(
    r"(?i)\b(exercises?|homework|assignments?|graded|problem set|task)\s*#?\s*(\d+)?"
)

# Words too common in exercises to tell one from another.
_STOP_TEXT = """a about above after again all also an and any are as at be because been before being
    below between both but by can could did do does doing done down each every few for from
    further get give had has have having he her here hers him his how i if in into is it its
    just me more most my no nor not now of off on once one only or other our out over own
    please same she should show so some such than that the their them then there these they
    this those through to too under until up use used using very was we were what when where
    which while who whom why will with would write you your yours code python program
    function functions returns return value values make makes print prints number numbers
    way want need like tell help solve solution answer full complete exercise task lesson
    first second third next part step steps loop let lets okay ok thanks thank true false
    otherwise given without built instead whether many time times two three four five per
    back keep"""
STOPWORDS = frozenset(_STOP_TEXT.split())


@dataclass(frozen=True, slots=True)
class Exercise:
    """One exercise of the course: its lesson, number and statement."""

    source: str  # the lesson's file, relative to the course folder
    lesson: str  # the lesson's title
    number: int  # its number in the Exercises section; 0: the whole graded lesson
    text: str
    keywords: frozenset[str]
    names: frozenset[str]  # identifiers it asks for, e.g. is_even

    @property
    def key(self) -> str:
        return f"{self.source}#{self.number}"

    @property
    def label(self) -> str:
        if self.number:
            return f"exercise {self.number} of the lesson “{self.lesson}”"
        return f"the graded lesson “{self.lesson}”"


@dataclass(frozen=True, slots=True)
class Lesson:
    """What hints draw on: a lesson's sections and code examples (never its exercises)."""

    source: str
    title: str
    sections: tuple[tuple[str, str], ...]  # (heading, text) outside the Exercises section
    examples: tuple[str, ...]  # fenced code blocks outside the Exercises section


@dataclass(frozen=True, slots=True)
class Course:
    """Every lesson and exercise the tutor knows of."""

    lessons: tuple[Lesson, ...] = ()
    exercises: tuple[Exercise, ...] = ()

    def lesson(self, source: str) -> Lesson | None:
        return next((lesson for lesson in self.lessons if lesson.source == source), None)

    def exercise(self, key: str) -> Exercise | None:
        return next((e for e in self.exercises if e.key == key), None)

    def vocabulary(self) -> frozenset[str]:
        """Words of the course's lessons: a message using them is about the course."""
        words: set[str] = set()
        for lesson in self.lessons:
            words |= keywords(lesson.title)
            for heading, _ in lesson.sections:
                words |= keywords(heading)
        for exercise in self.exercises:
            words |= exercise.keywords
        return frozenset(words)

    def _rare(self, word: str) -> bool:
        """A word at most two exercises use."""
        return sum(1 for e in self.exercises if word in e.keywords) <= 2

    def about(self, questions: Sequence[str], answer: str = "") -> Exercise | None:
        """The exercise these questions (and the answer to them) are about, if any.

        An identifier the exercise asks for (``is_even``) in any of them decides; else
        the questions must share most of an exercise's distinctive words.
        """
        asked = " ".join(questions)
        everything = f"{asked}\n{answer}"
        found = set(_WORD.findall(everything.lower()))
        asked_words = keywords(asked)
        best: tuple[float, Exercise] | None = None
        for exercise in self.exercises:
            if exercise.names & found:
                score = 2.0
            elif exercise.keywords:
                hits = len(exercise.keywords & asked_words)
                share = hits / len(exercise.keywords)
                rare = sum(1 for w in exercise.keywords & asked_words if self._rare(w))
                few = hits < min(2, len(exercise.keywords)) or (share < 0.5 and hits < 3)
                if few and rare < 2:  # two words no other exercise uses ("leap year") decide
                    continue
                score = share
            else:
                continue
            if best is None or score > best[0]:
                best = (score, exercise)
        return best[1] if best else None


def keywords(text: str) -> frozenset[str]:
    """The distinctive words of a text: lower case, no stopwords, no short words."""
    return frozenset(
        _stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 2
    )


def _stem(word: str) -> str:
    """``vowels`` and ``vowel`` alike: a plural's final s dropped."""
    return word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word


def refers_to_exercise(text: str) -> bool:
    """The learner names an exercise, homework or assignment."""
    return _REFERENCE.search(text) is not None


def code_lines(text: str) -> int:
    """Lines of code in an answer: fenced blocks' lines, and prose lines that are code.

    Blank lines and comment-only lines do not count.
    """
    count = 0
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if fenced or _CODE_LINE.match(line) or _inline_statement(stripped):
            count += 1
    return count


def _inline_statement(line: str) -> bool:
    """A line that is a backticked statement: ```count = len(s)``` on its own."""
    return (
        line.startswith("`")
        and line.endswith("`")
        and _CODE_LINE.match(line.strip("`")) is not None
    )


def parse_lesson(
    source: str, text: str, *, protected: bool = False
) -> tuple[Lesson, list[Exercise]]:
    """A lesson and its exercises from a Markdown file's text."""
    meta, body = _front_matter(text)
    title = meta.get("title") or _first_heading(body) or source
    graded = protected or meta.get("graded", "").lower() in {"true", "yes", "1"}
    sections: list[tuple[str, str]] = []
    examples: list[str] = []
    items: list[tuple[int, str]] = []
    heading, lines, in_exercises, fenced, block = "", [], False, False, []  # type: ignore[var-annotated]

    def close_section() -> None:
        if not in_exercises and (heading or lines):
            sections.append((heading, "\n".join(lines).strip()))

    for line in body.splitlines():
        if _FENCE.match(line):
            if fenced and not in_exercises and block:
                examples.append("\n".join(block))
            fenced, block = not fenced, []
            lines.append(line)
            continue
        if fenced:
            block.append(line)
            lines.append(line)
            continue
        match = _HEADING.match(line)
        if match:
            close_section()
            heading, lines = match.group(2), []
            in_exercises = heading.lower().startswith("exercise")
            continue
        lines.append(line)
        if in_exercises:
            item = _ITEM.match(line)
            if item and int(item.group(1)) == (items[-1][0] + 1 if items else 1):
                items.append((int(item.group(1)), item.group(2).strip()))
            elif items and line.strip():
                number, said = items[-1]
                items[-1] = (number, f"{said} {line.strip()}")
    close_section()
    lesson = Lesson(source, title, tuple(sections), tuple(examples))
    exercises = [_exercise(source, title, number, said) for number, said in items]
    if graded and not exercises:
        exercises.append(_exercise(source, title, 0, body))
    return lesson, exercises


def build_course(files: Iterable[tuple[str, str, bool]]) -> Course:
    """A Course from ``(source, text, protected)`` for each lesson file."""
    lessons: list[Lesson] = []
    exercises: list[Exercise] = []
    for source, text, protected in files:
        lesson, found = parse_lesson(source, text, protected=protected)
        lessons.append(lesson)
        exercises.extend(found)
    return Course(tuple(lessons), tuple(exercises))


def _exercise(source: str, lesson: str, number: int, text: str) -> Exercise:
    # Only names of the exercise's own making (is_even), never a built-in it mentions (max).
    names = {n.lower() for n in _NAME.findall(text) if "_" in n} | set(_SNAKE.findall(text))
    words = keywords(text) - names
    return Exercise(source, lesson, number, text, words, frozenset(names))


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    if not text.startswith("---"):
        return {}, text
    end = text.find("\n---", 3)
    if end < 0:
        return {}, text
    meta: dict[str, str] = {}
    for line in text[3:end].splitlines():
        key, sep, value = line.partition(":")
        if sep:
            meta[key.strip().lower()] = value.strip().strip("\"'")
    return meta, text[end + 4 :].lstrip("-\n")


def _first_heading(body: str) -> str:
    for line in body.splitlines():
        match = _HEADING.match(line)
        if match:
            return match.group(2)
    return ""
