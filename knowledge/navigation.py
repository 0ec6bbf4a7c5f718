"""Course-navigation questions, answered from the course's structure rather than its prose.

"What is lesson 5 about?", "what's next after loops?", "what comes before functions?",
"what lessons are there?" become a NavigationQuery; ``structural_passages`` turns one into
passages built from the indexed lessons' metadata (title, summary, sections, neighbours),
each citing the lesson file it describes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from bot.ports import Passage
from knowledge.chunking import LessonInfo

Kind = Literal["about", "next", "previous", "outline"]
STRUCTURE_SCORE = 1.0  # structural passages come from metadata, not similarity

_OUTLINE = re.compile(
    r"\b(outline|syllabus|table of contents|curriculum|list (?:of |all )?(?:the )?lessons"
    r"|(?:what|which) lessons|how many lessons|lessons (?:are there|does)"
    r"|what does (?:the|this) course (?:cover|teach)|course (?:overview|structure|contents))\b",
    re.I,
)
_NEXT = re.compile(
    r"\bwhat(?:'s| is| comes| should i (?:learn|study|read|do))? next\b"
    r"|\bnext (?:lesson|chapter|topic|module|unit|step)\b"
    r"|\b(?:lesson|chapter|topic|module|unit|comes|learn|study|read|do|go) (?:right )?after\b"
    r"|\bafter (?:finishing|completing|i finish|i complete|learning|the lesson on)\b",
    re.I,
)
_PREVIOUS = re.compile(
    r"\b(?:previous|prior|preceding) (?:lesson|chapter|topic|module|unit)\b"
    r"|\b(?:lesson|chapter|topic|module|unit|comes|learn|study|read|do|know) (?:right )?before\b"
    r"|\bprerequisites?\b",
    re.I,
)
_LESSON_NUMBER = re.compile(
    r"\b(?:lesson|chapter|unit|module)\s*(?:#|no\.?|number)?\s*(\d{1,3})\b"
    r"|\b(\d{1,3})(?:st|nd|rd|th)\s+(?:lesson|chapter|unit)\b",
    re.I,
)
_TOPIC = re.compile(r"\b(?:after|before|for)\s+(.+?)[\s?.!]*$", re.I)
_TOPIC_NOISE = re.compile(
    r"^(?:(?:finishing|completing|i finish|i complete|learning|studying|doing|reading|the|"
    r"lesson|chapter|on|about|of|with|a|an)\s+)+",
    re.I,
)
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class NavigationQuery:
    kind: Kind
    lesson: int | None = None  # a lesson named by number
    topic: str | None = None  # a lesson named by its subject ("loops")


def parse_navigation(question: str) -> NavigationQuery | None:
    """Recognise a question about the course's structure; None for anything else."""
    text = question.strip()
    if _OUTLINE.search(text):
        return NavigationQuery("outline")
    kind: Kind | None = None
    if _NEXT.search(text):
        kind = "next"
    elif _PREVIOUS.search(text):
        kind = "previous"
    number = _lesson_number(text)
    if kind is None:
        about = number is not None and re.search(
            r"\b(about|cover|covers|covered|teach|teaches|summar|overview|in)\b", text, re.I
        )
        return NavigationQuery("about", lesson=number) if about else None
    topic = None
    if number is None and (match := _TOPIC.search(text)):
        topic = _TOPIC_NOISE.sub("", match.group(1)).strip() or None
    return NavigationQuery(kind, lesson=number, topic=topic)


def structural_passages(
    query: NavigationQuery, lessons: Sequence[LessonInfo], fallback: str | None = None
) -> list[Passage]:
    """Passages answering ``query`` from ``lessons`` (in course order).

    ``fallback`` is the source of the best content match for the question; it names the
    lesson meant when the question's own words do not.
    """
    if not lessons:
        return []
    if query.kind == "outline":
        return [_outline(lessons)]
    position = _find(query, lessons, fallback)
    if position is None:
        return [_outline(lessons)]
    current = lessons[position]
    if query.kind == "about":
        return [_describe(lessons, position)]
    step = 1 if query.kind == "next" else -1
    target = position + step
    if not 0 <= target < len(lessons):
        edge = "last" if step == 1 else "first"
        return [_describe(lessons, position, note=f"This is the {edge} lesson of the course.")]
    relation = "comes after" if step == 1 else "comes before"
    note = f"This lesson {relation} {current.display_title}."
    return [_describe(lessons, target, note=note)]


def _lesson_number(text: str) -> int | None:
    match = _LESSON_NUMBER.search(text)
    if match:
        return int(match.group(1) or match.group(2))
    if re.search(r"\bfirst (?:lesson|chapter)\b", text, re.I):
        return 1
    return None


def _find(
    query: NavigationQuery, lessons: Sequence[LessonInfo], fallback: str | None
) -> int | None:
    if query.lesson is not None:
        return next((i for i, info in enumerate(lessons) if info.lesson == query.lesson), None)
    if query.topic:
        wanted = _stems(query.topic)
        best, best_score = None, 0.0
        for i, info in enumerate(lessons):
            names = _stems(f"{info.title} {PurePosixPath(info.source).stem}")
            score = len(wanted & names) / len(wanted) if wanted else 0.0
            if score > best_score:
                best, best_score = i, score
        if best is not None:
            return best
    if fallback is not None:
        return next((i for i, info in enumerate(lessons) if info.source == fallback), None)
    return None


def _stems(text: str) -> set[str]:
    words = _WORD.findall(text.lower())
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words}


def _describe(lessons: Sequence[LessonInfo], position: int, note: str = "") -> Passage:
    info = lessons[position]
    lines = [f"{info.display_title} ({info.source})"]
    if note:
        lines.append(note)
    if info.module:
        lines.append(f"Module: {info.module}")
    if info.summary:
        lines.append(f"Summary: {info.summary}")
    if info.sections:
        lines.append("Sections: " + "; ".join(info.sections))
    if position > 0:
        before = lessons[position - 1]
        lines.append(f"Previous lesson: {before.display_title} ({before.source})")
    if position + 1 < len(lessons):
        after = lessons[position + 1]
        lines.append(f"Next lesson: {after.display_title} ({after.source})")
    return Passage(
        text="\n".join(lines),
        source=info.source,
        title=f"{info.display_title} (course outline)",
        score=STRUCTURE_SCORE,
        metadata={"kind": "structure", "lesson": info.lesson},
    )


def _outline(lessons: Sequence[LessonInfo]) -> Passage:
    lines = ["The course's lessons, in order:"]
    for info in lessons:
        summary = f": {info.summary}" if info.summary else ""
        lines.append(f"- {info.display_title} ({info.source}){summary}")
    return Passage(
        text="\n".join(lines),
        source=".",  # the ingested folder itself
        title="Course outline",
        score=STRUCTURE_SCORE,
        metadata={"kind": "structure"},
    )
