"""Course-navigation questions, answered from the course's structure rather than its prose.

"What is lesson 5 about?", "what's next after loops?", "which lesson covers sets?", "how
many lessons are there?", "where are the exercises?", "what should I do next?" become a
NavigationQuery. ``answer_navigation`` answers one from the lessons' metadata (front
matter or file names: title, number, module, summary, sections) and their order: a short
text that names and cites the lessons it is about, with no model involved.
``structural_passages`` turns a query into passages for a model's prompt instead.

A course has a structure when its lessons are numbered (front matter ``lesson:`` or file
names such as ``03-loops.md``); a folder of loose documents has none, and navigation
answers nothing there (None), so the model answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from bot.ports import Passage
from knowledge.chunking import LessonInfo

Kind = Literal[
    "about", "next", "previous", "outline", "count", "exercises", "covers", "first", "last"
]
STRUCTURE_SCORE = 1.0  # structural passages come from metadata, not similarity
MAX_LISTED = 15  # lessons listed one by one; longer courses are summarised by module
MAX_SECTIONS = 8
MAX_OUTLINE_CHARS = 1200

_UNIT = r"(?:lesson|chapter|unit|module|part|section|topic|page)"
_OUTLINE = re.compile(
    r"\b(outline|syllabus|table of contents|curriculum|list (?:of |all )?(?:the )?lessons"
    r"|(?:what|which) lessons|lessons (?:are there|does)|all (?:the )?lessons"
    r"|what does (?:the|this) course (?:cover|teach)|course (?:overview|structure|contents))\b",
    re.I,
)
_MODULE_OUTLINE = re.compile(
    rf"\blessons? (?:are |is )?(?:in|under|of) (?:the )?(.+?)\s+{_UNIT}s?\b", re.I
)
# "what does the data model part cover", "whats in the expressions chapter" ("module" is left
# out: in a course on Python, "what does the random module cover" asks about a lesson).
_PART_OUTLINE = re.compile(
    r"\bwhat(?:'s|s| is| does| do)?\s+(?:in\s+)?(?:the\s+)?(\S.*?)\s+(?:part|chapter|unit)s?"
    r"(?:\s+(?:cover|contain|teach|include|have|has|about)\w*)?[\s?.!]*$",
    re.I,
)
_COUNT = re.compile(
    rf"\bhow many {_UNIT}s\b|\bnumber of {_UNIT}s\b|\bhow (?:long|big) is (?:the|this) course\b",
    re.I,
)
_EXERCISES = re.compile(
    r"\b(?:exercises|homework|assignments|practice (?:problems|questions|exercises|tasks))\b"
    r"|\bwhere\b.*\b(?:exercise|practice|homework|assignment)\b"
    r"|\b(?:is there|are there|any|got) (?:an? |some )?(?:exercise|practice|homework)\b",
    re.I,
)
_COVERS = re.compile(
    rf"\b(?:which|what|in which|whats|what's the|what is the) {_UNIT}s?\b"
    r"(?:\s+(?:is|are|do|does|did|should|can|will|would|has|have))?(?:\s+(?:i|we|you))?"
    r"\s+(?:covers?|covered|teach(?:es)?|taught|talks?(?: about)?|explains?|explained"
    r"|discuss(?:es)?|is about|are about|about|on|deals? with|introduces?|learn(?: about)?"
    r"|read about|find|mentions?|has|have|goes? over|shows?)\s+(?P<topic>.+)"
    r"|\bwhere (?:can|do|should|could|would) (?:i|we) (?:learn|read|find out|study|find)"
    r"(?: about| more about)?\s+(?P<topic2>.+)"
    r"|\bwhere (?:is|are) (?P<topic3>.+?) (?:covered|explained|taught|discussed)\b",
    re.I,
)
_FIRST = re.compile(
    rf"\b(?:first|1st|opening) {_UNIT}\b|\bwhere (?:do|should|can|to) (?:i )?(?:start|begin)\b"
    r"|\bhow (?:do|should|can) i (?:start|begin) (?:the|this) course\b",
    re.I,
)
_LAST = re.compile(rf"\b(?:last|final) {_UNIT}\b", re.I)
_NEXT = re.compile(
    r"\bwhat(?:'s|s| is| comes| should i (?:learn|study|read|do|go to))? next\b"
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
    r"\b(?:lesson|chapter|unit|module)\s*(?:#|no\.?|number)?\s*(\d{1,4})\b"
    r"|\b(\d{1,4})(?:st|nd|rd|th)\s+(?:lesson|chapter|unit)\b",
    re.I,
)
_TOPIC = re.compile(r"\b(?:after|before|for)\s+(.+?)[\s?.!]*$", re.I)
_DONE_WITH = re.compile(
    r"\b(?:done with|finished|completed|through with|i did)\s+(.+?)"
    r"(?:[,;.!?]|\s+(?:what|whats|what's|so|now|and|next)\b|$)",
    re.I,
)
_ABOUT_TOPIC = re.compile(
    rf"\b(?:what(?:'s|s| is)|tell me about|summari[sz]e|what's in|whats in) (?:the )?(.+?) "
    rf"{_UNIT}(?: about)?[\s?.!]*$",
    re.I,
)
_TOPIC_NOISE = re.compile(
    r"^(?:(?:finishing|completing|i finish|i complete|learning|studying|doing|reading|the|"
    r"lesson|chapter|on|about|of|a|an)\s+)+",
    re.I,
)
_TOPIC_TAIL = re.compile(rf"(?<!\s)\s+(?:{_UNIT}|one)s?$", re.I)  # one start per run
_EXPLICIT = re.compile(
    rf"\b{_UNIT}s?\b|\bcourse\b|\bshould i\b|\b(?:done|finished|completed)\b", re.I
)
_EXERCISE_SECTION = re.compile(
    r"\b(?:exercis\w*|homework|quiz\w*|try it yourself|your turn|challenges"
    r"|practi[cs]e (?:problems|questions|exercises|time))\b",
    re.I,
)
_WORD = re.compile(r"[a-z0-9]+")
_NOISE_WORDS = frozenset({"the", "a", "an", "of", "on", "about", "lesson", "chapter", "module"})
_MAX_TOPIC_WORDS = 4  # "what comes after X": a longer X is a question about code, not order


@dataclass(frozen=True, slots=True)
class NavigationQuery:
    kind: Kind
    lesson: int | None = None  # a lesson named by number
    topic: str | None = None  # a lesson (or, for an outline, a module) named by its subject


@dataclass(frozen=True, slots=True)
class NavigationAnswer:
    """A finished reply to a navigation question and the lessons it cites."""

    text: str
    passages: tuple[Passage, ...]  # one per lesson cited (source, title), score 1.0
    kind: Kind


def parse_navigation(question: str) -> NavigationQuery | None:
    """Recognise a question about the course's structure; None for anything else."""
    text = question.strip()
    if _COUNT.search(text):
        return NavigationQuery("count")
    if _EXERCISES.search(text):
        return NavigationQuery("exercises", lesson=_lesson_number(text), topic=_for_topic(text))
    if match := _MODULE_OUTLINE.search(text) or _PART_OUTLINE.search(text):
        return NavigationQuery("outline", topic=_clean_topic(match.group(1)))
    if _OUTLINE.search(text):
        return NavigationQuery("outline")
    kind: Kind | None = None
    if _NEXT.search(text):
        kind = "next"
    elif _PREVIOUS.search(text):
        kind = "previous"
    if kind is not None:
        return _ordered(kind, text)
    if match := _COVERS.search(text):
        topic = _clean_topic(next(g for g in match.group("topic", "topic2", "topic3") if g))
        return NavigationQuery("covers", topic=topic) if topic else None
    if _FIRST.search(text):
        return NavigationQuery("first")
    if _LAST.search(text):
        return NavigationQuery("last")
    number = _lesson_number(text)
    if number is not None:
        about = re.search(
            r"\b(about|cover|covers|covered|teach|teaches|summar\w*|overview|in)\b", text, re.I
        )
        return NavigationQuery("about", lesson=number) if about else None
    if match := _ABOUT_TOPIC.search(text):
        topic = _clean_topic(match.group(1))
        return NavigationQuery("about", topic=topic) if topic else None
    return None


def has_structure(lessons: Sequence[LessonInfo]) -> bool:
    """The lessons are numbered (front matter or file names): an order to navigate."""
    numbered = sum(info.lesson is not None for info in lessons)
    return len(lessons) >= 2 and numbered >= 0.8 * len(lessons)


def needs_search(query: NavigationQuery, lessons: Sequence[LessonInfo]) -> str | None:
    """The words to search the course for when the question names a lesson by a subject
    its titles do not contain ("which lesson covers regular expressions"), else None."""
    if query.kind == "outline" or not query.topic or query.lesson is not None:
        return None
    _, score = _match_title(query.topic, lessons)
    return None if score >= 1.0 else query.topic


def answer_navigation(
    question: str | NavigationQuery,
    lessons: Sequence[LessonInfo],
    *,
    located: str | None = None,
    recent: Sequence[str] = (),
) -> NavigationAnswer | None:
    """The reply to a navigation question, from ``lessons`` (in course order).

    ``located`` is the source of the lesson a search found for the question's subject
    (see ``needs_search``); ``recent`` holds the conversation's earlier messages, oldest
    first, which say where the learner is when the question does not ("what's next?").
    None when this is not a navigation question or the course has no structure.
    """
    query = parse_navigation(question) if isinstance(question, str) else question
    if query is None or not has_structure(lessons):
        return None
    lessons = list(lessons)
    if query.kind == "count":
        return _count(lessons)
    if query.kind == "outline":
        return _outline_answer(lessons, query.topic)
    if query.kind == "exercises":
        return _exercises(lessons, _position(query, lessons, located))
    if query.kind == "first":
        return _one(lessons, 0, "The course starts with {lesson}.", "first")
    if query.kind == "last":
        last = len(lessons) - 1
        return _one(lessons, last, "The last lesson of the course is {lesson}.", "last")
    position = _position(query, lessons, located)
    if query.kind in ("next", "previous"):
        if position is None and query.lesson is None and not query.topic:
            position = _recent_position(recent, lessons)
            if position is None:
                return _start(lessons) if query.kind == "next" else None
        if position is None:
            return None
        return _neighbour(lessons, position, 1 if query.kind == "next" else -1)
    if position is None:
        return None
    if query.kind == "covers":
        return _one(lessons, position, "{lesson} covers that.", "covers")
    return _one(lessons, position, "{lesson} is about this:", "about")


def structural_passages(
    query: NavigationQuery, lessons: Sequence[LessonInfo], fallback: str | None = None
) -> list[Passage]:
    """Passages answering ``query`` from ``lessons`` (in course order), for a prompt.

    ``fallback`` is the source of the best content match for the question; it names the
    lesson meant when the question's own words do not.
    """
    if not lessons:
        return []
    if query.kind in ("outline", "count", "exercises"):
        return [_outline(lessons)]
    if query.kind == "first":
        return [_describe(lessons, 0)]
    if query.kind == "last":
        return [_describe(lessons, len(lessons) - 1)]
    position = _find(query, lessons, fallback)
    if position is None:
        return [_outline(lessons)]
    current = lessons[position]
    if query.kind in ("about", "covers"):
        return [_describe(lessons, position)]
    step = 1 if query.kind == "next" else -1
    target = position + step
    if not 0 <= target < len(lessons):
        edge = "last" if step == 1 else "first"
        return [_describe(lessons, position, note=f"This is the {edge} lesson of the course.")]
    relation = "comes after" if step == 1 else "comes before"
    note = f"This lesson {relation} {current.display_title}."
    return [_describe(lessons, target, note=note)]


# --- parsing -----------------------------------------------------------------------------


def _ordered(kind: Kind, text: str) -> NavigationQuery | None:
    number = _lesson_number(text)
    if number is None and _FIRST.search(text):
        number = 1
    topic = None
    if number is None:
        match = _DONE_WITH.search(text) or _TOPIC.search(text)
        if match:
            topic = _clean_topic(match.group(1))
    explicit = bool(_EXPLICIT.search(text))
    if topic and not explicit and len(topic.split()) > _MAX_TOPIC_WORDS:
        return None  # "what comes after the colon in a for loop?" is about code
    if number is None and not topic and not explicit:
        rest = _WORD.findall(_NEXT.sub(" ", _PREVIOUS.sub(" ", text)).lower())
        if len(rest) > 2:
            return None  # "what comes next in 1, 2, 4?" is not about the course

    return NavigationQuery(kind, lesson=number, topic=topic)


def _for_topic(text: str) -> str | None:
    match = re.search(r"\b(?:for|on|about)\s+(?!lesson\b|chapter\b)(.+?)[\s?.!]*$", text, re.I)
    return _clean_topic(match.group(1)) if match else None


def _clean_topic(text: str) -> str | None:
    topic = _TOPIC_NOISE.sub("", text.strip(" ?.!,;:\"'`")).strip()
    topic = _TOPIC_TAIL.sub("", topic).strip(" ?.!,;:\"'`")
    return topic or None


def _lesson_number(text: str) -> int | None:
    match = _LESSON_NUMBER.search(text)
    if match:
        return int(match.group(1) or match.group(2))
    return None


# --- finding lessons ---------------------------------------------------------------------


def _stems(text: str) -> set[str]:
    words = _WORD.findall(text.lower())
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words}


def _title_words(info: LessonInfo) -> set[str]:
    return _stems(f"{info.title} {re.sub(r'^[0-9_-]+', '', PurePosixPath(info.source).stem)}")


def _match_title(topic: str, lessons: Sequence[LessonInfo]) -> tuple[int | None, float]:
    """The lesson whose title (or file name) best holds the topic's words, and the share
    of them it holds (1.0: all of them)."""
    wanted = _stems(topic) - _NOISE_WORDS
    if not wanted:
        return None, 0.0
    joined = "".join(sorted(wanted, key=topic.lower().find))
    best, best_score, best_size = None, 0.0, 0
    for i, info in enumerate(lessons):
        names = _title_words(info)
        found = sum(any(_same(w, n) for n in names) for w in wanted)
        score = found / len(wanted)
        if joined in names:  # "zip files" -> "zipfile"
            score = 1.0
        size = len(names)
        if score > best_score or (score == best_score and score > 0 and size < best_size):
            best, best_score, best_size = i, score, size
    return best, best_score


def _same(word: str, name: str) -> bool:
    if word == name:
        return True
    short, long = sorted((word, name), key=len)
    return len(short) >= 4 and long.startswith(short)


def _position(
    query: NavigationQuery, lessons: Sequence[LessonInfo], located: str | None
) -> int | None:
    if query.lesson is not None:
        return next((i for i, info in enumerate(lessons) if info.lesson == query.lesson), None)
    if not query.topic:
        return None
    best, score = _match_title(query.topic, lessons)
    if score >= 1.0:
        return best
    if located is not None:
        found = next((i for i, info in enumerate(lessons) if info.source == located), None)
        if found is not None:
            return found
    return best if score >= 0.5 else None


def _recent_position(recent: Sequence[str], lessons: Sequence[LessonInfo]) -> int | None:
    """The lesson the conversation was last about, by number or full title."""
    for text in reversed(recent):
        number = _lesson_number(text)
        if number is not None:
            found = next((i for i, info in enumerate(lessons) if info.lesson == number), None)
            if found is not None:
                return found
        for i, info in enumerate(lessons):
            if info.title.lower() in text.lower() or info.source in text:
                return i
    return None


def _find(
    query: NavigationQuery, lessons: Sequence[LessonInfo], fallback: str | None
) -> int | None:
    found = _position(query, lessons, None)
    if found is not None:
        return found
    if fallback is not None:
        return next((i for i, info in enumerate(lessons) if info.source == fallback), None)
    return None


# --- answers -----------------------------------------------------------------------------


def _name(info: LessonInfo) -> str:
    return f"{info.display_title} ({info.source})"


def _cite(*infos: LessonInfo) -> tuple[Passage, ...]:
    return tuple(
        Passage(
            text=info.summary,
            source=info.source,
            title=info.display_title,
            score=STRUCTURE_SCORE,
            metadata={"kind": "structure", "lesson": info.lesson},
        )
        for info in infos
    )


def _details(info: LessonInfo) -> list[str]:
    lines = []
    if info.summary:
        lines.append(info.summary)
    if info.sections:
        shown = list(info.sections[:MAX_SECTIONS])
        more = len(info.sections) - len(shown)
        lines.append("Sections: " + "; ".join(shown) + (f"; and {more} more" if more else ""))
    return lines


def _one(
    lessons: Sequence[LessonInfo], position: int, template: str, kind: Kind
) -> NavigationAnswer:
    info = lessons[position]
    lines = [template.format(lesson=_name(info)), *_details(info)]
    around = []
    if position > 0:
        around.append(f"before it: {lessons[position - 1].display_title}")
    if position + 1 < len(lessons):
        around.append(f"next: {lessons[position + 1].display_title}")
    if around:
        lines.append("; ".join(around)[:1].upper() + "; ".join(around)[1:] + ".")
    return NavigationAnswer("\n".join(lines), _cite(info), kind)


def _neighbour(lessons: Sequence[LessonInfo], position: int, step: int) -> NavigationAnswer:
    current = lessons[position]
    target = position + step
    kind: Kind = "next" if step == 1 else "previous"
    if not 0 <= target < len(lessons):
        edge = "last" if step == 1 else "first"
        nothing = "after" if step == 1 else "before"
        text = f"{_name(current)} is the {edge} lesson of the course: nothing comes {nothing} it."
        return NavigationAnswer(text, _cite(current), kind)
    info = lessons[target]
    relation = "After" if step == 1 else "Before"
    lines = [f"{relation} {current.display_title} comes {_name(info)}."]
    if info.summary:
        lines.append(info.summary)
    return NavigationAnswer("\n".join(lines), _cite(info, current), kind)


def _start(lessons: Sequence[LessonInfo]) -> NavigationAnswer:
    first = lessons[0]
    lines = [f"If you are starting the course, begin with {_name(first)}."]
    if first.summary:
        lines.append(first.summary)
    lines.append(
        "If you have finished a lesson, tell me which one (for example "
        f'"what comes after lesson {first.lesson or 1}?") and I will name the next.'
    )
    return NavigationAnswer("\n".join(lines), _cite(first), "next")


def _count(lessons: Sequence[LessonInfo]) -> NavigationAnswer:
    first, last = lessons[0], lessons[-1]
    modules = _modules(lessons)
    parts = f" in {len(modules)} parts" if len(modules) > 1 else ""
    text = (
        f"The course has {len(lessons)} lessons{parts}, from {first.display_title} "
        f"to {last.display_title}."
    )
    return NavigationAnswer(text, _cite(first, last), "count")


def _modules(lessons: Sequence[LessonInfo]) -> list[tuple[str, list[LessonInfo]]]:
    """Lessons grouped by module, modules in order of first appearance; [] without any."""
    groups: dict[str, list[LessonInfo]] = {}
    for info in lessons:
        if info.module:
            groups.setdefault(info.module, []).append(info)
    return list(groups.items())


def _numbers(infos: Sequence[LessonInfo]) -> str:
    numbers = [info.lesson for info in infos if info.lesson is not None]
    if not numbers:
        return ""
    if numbers == list(range(numbers[0], numbers[0] + len(numbers))):
        return (
            f"lesson {numbers[0]}" if len(numbers) == 1 else f"lessons {numbers[0]}-{numbers[-1]}"
        )
    return "lessons " + ", ".join(map(str, numbers))


def _outline_answer(lessons: Sequence[LessonInfo], module: str | None) -> NavigationAnswer:
    modules = _modules(lessons)
    if module:
        wanted = _stems(module) - _NOISE_WORDS
        for name, infos in modules:
            if wanted and wanted <= _stems(name):
                lines = [f"{name} has {len(infos)} lessons:"]
                lines += [f"- {info.display_title} ({info.source})" for info in infos]
                return NavigationAnswer("\n".join(lines), _cite(*infos), "outline")
    if len(lessons) <= MAX_LISTED:
        lines = [f"The course has {len(lessons)} lessons:"]
        lines += [f"- {info.display_title} ({info.source})" for info in lessons]
        return NavigationAnswer("\n".join(lines), _cite(*lessons), "outline")
    if modules:
        for shown in (3, 2, 0):  # fewer example titles until the list is short enough
            lines = [f"The course has {len(lessons)} lessons in {len(modules)} parts:"]
            for name, infos in modules:
                titles = ", ".join(i.title for i in infos[:shown])
                more = ", ..." if titles and len(infos) > shown else ""
                lines.append(
                    f"- {name} ({_numbers(infos)})" + (f": {titles}{more}" if titles else "")
                )
            if sum(len(line) + 1 for line in lines) <= MAX_OUTLINE_CHARS:
                break
    lines.append('Ask "what is lesson N about?" for any of them.')
    return NavigationAnswer("\n".join(lines), _cite(lessons[0], lessons[-1]), "outline")


def _exercises(lessons: Sequence[LessonInfo], position: int | None) -> NavigationAnswer:
    chosen = [lessons[position]] if position is not None else list(lessons)
    found = []
    for info in chosen:
        sections = [s for s in info.sections if _EXERCISE_SECTION.search(s)]
        if sections or _is_exercise_file(info):
            found.append((info, sections))
    if not found:
        where = _name(chosen[0]) if position is not None else "this course"
        text = (
            f"I couldn't find exercises in {where}: no lesson has an exercise section. "
            "The lessons' own examples are the closest thing to practice."
        )
        return NavigationAnswer(text, _cite(*chosen[:1]), "exercises")
    if position is not None:
        info, sections = found[0]
        if not sections:
            return NavigationAnswer(
                f"{_name(info)} is a set of exercises.", _cite(info), "exercises"
            )
        at_end = info.sections[-1] == sections[0]
        text = f'{_name(info)} has its exercises in the "{sections[0]}" section' + (
            ", at the end of the lesson." if at_end else "."
        )
        return NavigationAnswer(text, _cite(info), "exercises")
    names = {sections[0] for _, sections in found if sections}
    if len(found) == len(lessons) and len(names) == 1:
        section = names.pop()
        at_end = all(info.sections[-1] == section for info, _ in found)
        text = (
            f'Every lesson has exercises: the "{section}" section'
            + (" at the end of each lesson" if at_end else " of each lesson")
            + f", from {_name(lessons[0])} to {_name(lessons[-1])}."
        )
        return NavigationAnswer(text, _cite(lessons[0], lessons[-1]), "exercises")
    shown = found[:MAX_LISTED]
    lines = [f"{len(found)} of the {len(lessons)} lessons have exercises:"]
    for info, sections in shown:
        where = f' ("{sections[0]}" section)' if sections else ""
        lines.append(f"- {_name(info)}{where}")
    if len(found) > len(shown):
        lines.append(f"- and {len(found) - len(shown)} more")
    return NavigationAnswer("\n".join(lines), _cite(*(info for info, _ in shown)), "exercises")


def _is_exercise_file(info: LessonInfo) -> bool:
    return bool(_EXERCISE_SECTION.search(f"{info.title} {PurePosixPath(info.source).stem}"))


# --- passages for a prompt -----------------------------------------------------------------


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
