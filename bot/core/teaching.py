"""Teaching: the solution guard, the hint ladder and the off-topic redirect.

In ``guide`` mode the tutor does not hand out complete solutions to the course's
exercises. The guard runs after generation, on whatever a model wrote (cloud answers
included): an answer about a protected exercise holding more than ``max_solution_lines``
lines of code (counted over the whole conversation, so asking in pieces adds up) is
replaced by a hint. Hints are made from the course itself, never by a model: a nudge,
a targeted hint pointing at the lesson, and a worked example of a similar problem
taken from the lesson's own examples (never the exercise).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from bot.config import TeachingSection
from bot.core.exercises import Course, Exercise, Lesson, code_lines, keywords, refers_to_exercise
from bot.ports import Passage

Mode = Literal["guide", "answer"]
MODES: tuple[Mode, ...] = ("guide", "answer")
Vote = Literal["up", "down"]
RECENT = 3  # the conversation's latest questions that can name an exercise
RECENT_TURNS = 3  # answers after the last one about an exercise that still count towards it
HINT_NAMES = ("a nudge", "a targeted hint", "a worked example of a similar problem")

_HINT_REQUEST = re.compile(
    r"(?i)^\s*(?:/?hint|(?:can i (?:get|have) |give me |i need )?(?:a |another |one more "
    r"|a (?:bigger|better) |next )?hint(?: please)?|more hints?|next hint)\s*[.!?]*\s*$"
)
# Words that say a message is about programming, whatever the course covers.
_PROGRAMMING_TEXT = """python code coding program programming function functions variable
    variables loop loops
    list lists string strings dict dictionary dictionaries tuple tuples set sets class classes
    object objects method methods module modules import error errors exception exceptions bug
    debug traceback syntax int integer float boolean bool none true false if else elif while
    for range print input return def lambda file files read write open index indexes slice
    slicing append array key keys value values type types argument arguments parameter
    parameters operator operators recursion iterate iteration compile run script terminal pip
    package library api algorithm sort sorting exercise exercises lesson lessons course homework
    assignment quiz test tests hint hints example examples explain mean means meaning len
    comprehension scope global local indentation indent comment comments"""
PROGRAMMING = frozenset(_PROGRAMMING_TEXT.split())
_CODEY = re.compile(r"[(){}\[\]=<>:`]|\w\.\w|\d")


class TeachingState(Protocol):
    """What teaching remembers: channel settings, hint levels, votes, hand-offs.

    The ledger implements it (so it survives restarts); MemoryTeaching is for tests and
    for running without a ledger.
    """

    async def channel_settings(
        self, platform: str, workspace: str | None, channel: str
    ) -> tuple[str | None, bool | None]:
        """(mode, off_topic) a moderator set for the channel; None: not set."""
        ...

    async def set_channel_mode(
        self, platform: str, workspace: str | None, channel: str, mode: str
    ) -> None: ...

    async def set_channel_off_topic(
        self, platform: str, workspace: str | None, channel: str, on: bool
    ) -> None: ...

    async def hint_state(self, conversation: Sequence[str]) -> tuple[int, str]:
        """(hints given so far, the exercise key or question they are about)."""
        ...

    async def set_hint_state(self, conversation: Sequence[str], level: int, topic: str) -> None: ...


@dataclass(slots=True)
class MemoryTeaching:
    """TeachingState in memory: lost on restart."""

    channels: dict[tuple[str, str, str], tuple[str | None, bool | None]]
    hints: dict[tuple[str, ...], tuple[int, str]]

    def __init__(self) -> None:
        self.channels = {}
        self.hints = {}

    async def channel_settings(
        self, platform: str, workspace: str | None, channel: str
    ) -> tuple[str | None, bool | None]:
        return self.channels.get((platform, workspace or "", channel), (None, None))

    async def set_channel_mode(
        self, platform: str, workspace: str | None, channel: str, mode: str
    ) -> None:
        key = (platform, workspace or "", channel)
        self.channels[key] = (mode, self.channels.get(key, (None, None))[1])

    async def set_channel_off_topic(
        self, platform: str, workspace: str | None, channel: str, on: bool
    ) -> None:
        key = (platform, workspace or "", channel)
        self.channels[key] = (self.channels.get(key, (None, None))[0], on)

    async def hint_state(self, conversation: Sequence[str]) -> tuple[int, str]:
        return self.hints.get(tuple(conversation), (0, ""))

    async def set_hint_state(self, conversation: Sequence[str], level: int, topic: str) -> None:
        self.hints[tuple(conversation)] = (level, topic)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the guard decided about one answer."""

    allowed: bool
    exercise: Exercise | None = None
    lines: int = 0  # lines of code in the answer
    guarded: bool = False  # the answer is about an exercise (known or only named)

    @property
    def detail(self) -> str:
        return self.exercise.key if self.exercise else "exercise"


def is_hint_request(text: str) -> bool:
    """ "hint", "another hint", "/hint", "can I get a hint?"."""
    return _HINT_REQUEST.match(text) is not None


def is_off_topic(question: str, passages: Sequence[Passage], vocabulary: frozenset[str]) -> bool:
    """Nothing to do with the course or programming: no course passage, no programming
    word, no course word, nothing that looks like code."""
    if passages or _CODEY.search(question):
        return False
    words = {w.strip("?!.,;:'\"").lower() for w in question.split()}
    return not (words & PROGRAMMING or keywords(question) & vocabulary)


def _defines(answer: str, names: frozenset[str]) -> bool:
    return any(re.search(rf"\bdef\s+{re.escape(name)}\s*\(", answer) for name in names)


class Teacher:
    """Guards answers and makes hints from the course."""

    def __init__(self, config: TeachingSection, course: Course | None = None) -> None:
        self.config = config
        self.course = course or Course()
        self.vocabulary = self.course.vocabulary()

    def may_concern_exercise(self, questions: Sequence[str]) -> bool:
        """Could an answer to ``questions`` (the conversation's, the current one last) be
        an exercise's solution? Guide mode holds such an answer back until it is checked."""
        named = any(refers_to_exercise(q) for q in questions[-RECENT:])
        return named or self.course.about(questions) is not None

    def check(self, questions: Sequence[str], answer: str, given_before: int = 0) -> Verdict:
        """May this answer be shown in guide mode? ``questions``: the conversation's, the
        current one last; ``given_before``: code lines already given on the same exercise."""
        lines = code_lines(answer)
        limit = self.config.max_solution_lines
        if lines == 0:
            return Verdict(True, None, 0)
        exercise = self.course.about(questions, answer)
        named = any(refers_to_exercise(q) for q in questions[-RECENT:])
        if exercise is None and not named:
            return Verdict(True, None, lines)
        if exercise is not None and _defines(answer, exercise.names):
            return Verdict(False, exercise, lines, True)  # the function the exercise asks for
        return Verdict(lines + given_before <= limit, exercise, lines, True)

    # --- hints -------------------------------------------------------------------------

    def withheld(self, exercise: Exercise | None, passages: Sequence[Passage]) -> str:
        """The reply that replaces a complete solution: a leading question, the lesson, a hint."""
        what = exercise.label if exercise else "an exercise of the course"
        lines = [
            f"This looks like {what}, which is yours to solve, so I won't write the "
            "solution for you. Let's work it out together.",
            "",
            f"**Think about it:** {self._nudge(exercise)}",
            f"**Where to look:** {self._where(exercise, passages)}",
            f"**Hint:** {self._targeted(exercise, passages)}",
            "",
            'Say "hint" for another hint, or show me what you have tried.',
        ]
        return "\n".join(lines)

    def hint(
        self, level: int, exercise: Exercise | None, question: str, passages: Sequence[Passage]
    ) -> str:
        """Hint ``level`` (1-based) of the ladder about ``exercise`` or ``question``."""
        top = self.config.hint_levels
        level = max(1, min(level, top))
        if level == 1:
            body = self._nudge(exercise, question)
        elif level == 2:
            body = f"{self._targeted(exercise, passages)} {self._where(exercise, passages)}"
        else:
            body = self._example(exercise, passages)
        more = ' Say "another hint" for the next one.' if level < top else ""
        name = HINT_NAMES[level - 1] if level <= len(HINT_NAMES) else "a hint"
        return f"**Hint {level} of {top}** ({name}): {body}{more}"

    def _nudge(self, exercise: Exercise | None, question: str = "") -> str:
        if exercise is not None:
            task = exercise.text.rstrip(".") if exercise.number else "this lesson's task"
            return (
                f"before any code, what goes in and what should come out of “{task}”? "
                "Try it by hand on a small example: which steps did you take?"
            )
        about = f" for “{question.strip()[:120]}”" if question.strip() else ""
        return (
            f"what have you tried so far{about}, and what did you expect to happen? "
            "Break the problem into the smallest step you can test on its own."
        )

    def _lesson(self, exercise: Exercise | None, passages: Sequence[Passage]) -> Lesson | None:
        source = exercise.source if exercise else (passages[0].source if passages else "")
        return self.course.lesson(source) if source else None

    def _where(self, exercise: Exercise | None, passages: Sequence[Passage]) -> str:
        lesson = self._lesson(exercise, passages)
        if lesson is not None:
            section = self._section(lesson, exercise)
            inside = f", the section “{section}”" if section else ""
            return f"the lesson “{lesson.title}” ({lesson.source}){inside}."
        if passages:
            return f"the course passage “{passages[0].title}” ({passages[0].source})."
        return "the lesson this exercise belongs to."

    def _section(self, lesson: Lesson, exercise: Exercise | None) -> str:
        wanted = exercise.keywords if exercise else frozenset()
        best, score = "", 0
        for heading, text in lesson.sections:
            hits = len(wanted & keywords(f"{heading} {text}"))
            if heading and hits > score:
                best, score = heading, hits
        if not best and lesson.sections:
            best = next((h for h, _ in lesson.sections if h and h != lesson.title), "")
        return best

    def _targeted(self, exercise: Exercise | None, passages: Sequence[Passage]) -> str:
        lesson = self._lesson(exercise, passages)
        if lesson is not None:
            section = self._section(lesson, exercise)
            if section:
                return (
                    f"the tools you need are in “{section}”. Write the first line or two "
                    "yourself, run them, and check the result before going on."
                )
        return (
            "write the part you are sure of first, run it, and print the intermediate "
            "values to see where it goes wrong."
        )

    def _example(self, exercise: Exercise | None, passages: Sequence[Passage]) -> str:
        lesson = self._lesson(exercise, passages)
        names = exercise.names if exercise else frozenset()
        wanted = exercise.keywords if exercise else frozenset()
        candidates = [
            code
            for code in (lesson.examples if lesson else ())
            if not any(name in code for name in names)
            and code_lines(f"```\n{code}\n```") <= max(self.config.max_solution_lines, 6) * 2
        ]
        if not candidates:
            return (
                "work through a smaller version first: solve it for one fixed input, print "
                "the result, then turn that into the general case."
            )
        best = max(candidates, key=lambda code: len(wanted & keywords(code)))
        return (
            "here is a similar problem from the lesson, worked out. It is not your "
            "exercise: read it, then adapt the idea.\n```python\n" + best.strip() + "\n```"
        )
