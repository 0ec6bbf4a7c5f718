"""Course passages cut down to what answers the question, for small prompts and quotes.

``trim`` keeps the sentences (and code blocks) of one passage that best match a question,
with their neighbours, in about ``max_chars``. ``fit_passages`` does that for the best
passages of a search so they fit a model's context budget. ``course_quote`` is the reply
made of the course's own words, for when no model gives an answer worth showing.

Pure functions, standard library only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.ports import Passage

ELLIPSIS = "…"
QUOTE_CHARS = 900  # a course quote's excerpts and sources stay under this
MAX_POINTERS = 2  # other close sections named after the quote ("Also in the course: …")
MAX_POINTER_CHARS = 220  # the pointer line stays under this
MIN_SECOND_QUOTE = 150  # a second passage is quoted only with this much room
MAX_LABEL_CHARS = 90
RANK_NUDGE = 0.15  # a passage holding all the question's words gains this much score
_WORD = re.compile(r"[a-z0-9_]+")
_EXERCISES = re.compile(r"(?i)\b(exercises?|practice|quiz|tasks?)\b")
_SIGNATURE = re.compile(r"\([^()]{16,}\)")  # a long parameter list, shortened in pointers
_WORD_START = re.compile(r"[A-Za-z]+(?![\w.(])")  # a plain first word, not "Path.glob"
_OPERATOR = re.compile(r"(?<![=<>!%*/+\-&|^~@])[=<>!%*/+\-&|^~@]{1,3}(?![=<>!%*/+\-&|^~@])")
_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+(?=[A-Z0-9`\"'(*\[])")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_STOP = frozenset(
    """a an the and or but if then else of to in on at by for with from as into is are was
    were be been being am do does did doing done have has had i me my we you your it its
    this that these those there here what whats which who whom whose when where why how
    can could should would will shall may might must not no yes so than too very just also
    about between diff difference differences vs versus use used using uses work works
    working mean means meaning get gets make makes thing things something anything way
    ways python please tell explain show example need want know like does don t s re ll
    ve d m one some any all each other another lesson course""".split()  # noqa: SIM905
)
_KEYWORDS = frozenset(
    """and as assert async await break class continue def del elif else except finally
    for from global if import in is lambda nonlocal not or pass raise return try while
    with yield none true false""".split()  # noqa: SIM905
)
# A Python keyword is the subject of a question when it is quoted, named as a statement or
# operator, or compared: "the `with` statement", "is vs ==", "between break and continue".
_NAMED_KEYWORD = re.compile(
    r"[`'\"](\w+)[`'\"]"
    r"|\b(\w+)\s+(?:statement|keyword|operator|clause|block|loop|expression|part|branch)s?\b"
    r"|\bbetween\s+(\w+)\s+and\s+(\S+)"
    r"|\b(\w+)\s+(?:vs\.?|versus)\s+(\S+)",
    re.I,
)


@dataclass(frozen=True, slots=True)
class _Unit:
    """A piece of a passage that is kept or dropped whole: a sentence, heading or code."""

    text: str
    kind: str  # "text", "heading" or "code"
    joiner: str  # what separates it from the unit before: " " or "\n\n"


def terms(text: str) -> set[str]:
    """The content words (stemmed) and operators of ``text``."""
    words = {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}
    for match in _NAMED_KEYWORD.finditer(text):
        words.update(_stem(w.lower()) for w in match.groups() if w and w.lower() in _KEYWORDS)
    operators = {op for op in _OPERATOR.findall(text) if op not in {"-", "=", "/"}}
    return words | operators


def trim(text: str, question: str, max_chars: int) -> str:
    """About ``max_chars`` of ``text`` around the sentences that best match ``question``.

    Code blocks stay whole when they fit; cuts are marked with an ellipsis. A text that
    already fits is returned unchanged.
    """
    text = text.strip()
    units = _units(text)
    if len(text) <= max_chars:
        # A chunk cut after the line that announces what follows ("… values are:").
        if units and _introduces(units[-1]) and any(u.kind != "heading" for u in units[:-1]):
            return _bounded(_joined(units[:-1]), False, True)
        return text
    max_chars -= 2 * (len(ELLIPSIS) + 1)  # room for the cut marks on both sides
    if not units:
        return _cut(text, max_chars)
    scores = _scores(units, terms(question))
    best = max(range(len(units)), key=lambda i: (scores[i], -i))
    if scores[best] == 0:
        best = next((i for i, u in enumerate(units) if u.kind != "heading"), 0)
    first = last = best
    size = len(units[best].text)
    if size > max_chars:
        return _bounded(_cut_unit(units[best], max_chars), best > 0, best < len(units) - 1)
    while True:
        options = []
        # Ties go forwards; forwards stops at the next heading, backwards after one.
        if last + 1 < len(units) and units[last + 1].kind != "heading":
            options.append((scores[last + 1] + 0.01, last + 1))
        if first > 0 and units[first].kind != "heading":
            options.append((scores[first - 1], first - 1))
        grown = False
        for _, i in sorted(options, reverse=True):
            extra = len(units[i].text) + len(units[i].joiner)
            if size + extra <= max_chars:
                first, last = min(first, i), max(last, i)
                size += extra
                grown = True
                break
        if not grown:
            break
    while last > best and _introduces(units[last]):
        last -= 1
    return _bounded(_joined(units[first : last + 1]), first > 0, last < len(units) - 1)


def fit_passages(
    question: str,
    passages: Sequence[Passage],
    budget_chars: int,
    *,
    max_passages: int = 1,
    min_chars: int = 200,
) -> list[Passage]:
    """The best ``max_passages`` passages, trimmed so their texts fit ``budget_chars``.

    Passages are taken in the retriever's order nudged towards those holding the
    question's words (as ``course_quote`` does). The first gets what it needs (up to the
    budget); a later one is added only while at least ``min_chars`` of the budget remain.
    """
    chosen: list[Passage] = []
    left = budget_chars
    for passage in _rank(passages, terms(question))[:max_passages]:
        if chosen and left < min_chars:
            break
        text = trim(passage.text, question, left)
        chosen.append(replace(passage, text=text))
        left -= len(text)
    return chosen


def course_quote(
    question: str, passages: Sequence[Passage], max_chars: int = QUOTE_CHARS
) -> str | None:
    """ "Here is what the course says about …": the best passage or two, quoted briefly
    with their sources, in at most ``max_chars``. None when there are no passages.

    The passages are taken in the retriever's order, nudged by how many of the question's
    words each holds (its title included), so the section that names what was asked for
    comes first; a second one is quoted only when it is on the question too. The question
    is read as the search read it (``metadata["query"]``: its typos corrected).
    """
    question = _as_searched(question, passages)
    wanted = terms(question)
    ranked = _tasks_last(_rank([p for p in _with_sections(passages) if p.text.strip()], wanted))
    if not ranked:
        return None
    picked = [ranked[0]]
    second = next((p for p in ranked[1:] if _relevant(p, wanted, picked) and not _task(p)), None)
    if second is not None:
        picked.append(second)
    heading = f"Here is what the course says about {_topic(picked[0])}:"
    cites = [f"(from {_source_label(p)})" for p in picked]
    room = max_chars - len(heading) - sum(len(c) + 3 for c in cites)
    if len(picked) == 2:
        reserve = min(len(picked[1].text), MIN_SECOND_QUOTE + 100)
        first = trim(_drop_headings(picked[0].text), question, room - reserve)
        left = room - len(first)
        if left < MIN_SECOND_QUOTE:  # no room to say anything more: one passage only
            picked, cites = picked[:1], cites[:1]
            room = max_chars - len(heading) - len(cites[0]) - 3
            first = trim(_drop_headings(picked[0].text), question, room)
        excerpts = [first]
        if len(picked) == 2:
            excerpts.append(trim(_drop_headings(picked[1].text), question, left))
    else:
        excerpts = [trim(_drop_headings(picked[0].text), question, room)]
    parts = [heading]
    parts += [f"{excerpt}\n{cite}" for excerpt, cite in zip(excerpts, cites, strict=True)]
    pointers = _pointers(ranked, picked, "\n".join(parts), wanted)
    if pointers:
        parts.append(pointers)
    return "\n\n".join(parts)


# --- helpers -------------------------------------------------------------------------


def _stem(word: str) -> str:
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:7]


def _units(text: str) -> list[_Unit]:
    units: list[_Unit] = []
    lines = text.split("\n")
    i = 0
    joiner = ""
    paragraph: list[str] = []

    def flush() -> None:
        nonlocal joiner
        if not paragraph:
            return
        body = " ".join(line.strip() for line in paragraph)
        paragraph.clear()
        if body.startswith("#"):
            units.append(_Unit(body, "heading", joiner))
            joiner = "\n\n"
            return
        for n, sentence in enumerate(_SENTENCE_END.split(body)):
            units.append(_Unit(sentence, "text", joiner if n == 0 else " "))
        joiner = "\n\n"

    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line):
            flush()
            fence = _FENCE.match(line).group(1)  # type: ignore[union-attr]
            block = [line]
            i += 1
            while i < len(lines):
                block.append(lines[i])
                i += 1
                if lines[i - 1].strip().startswith(fence):
                    break
            units.append(_Unit("\n".join(block), "code", joiner))
            joiner = "\n\n"
            continue
        if not line.strip():
            flush()
        elif _HEADING.match(line):
            flush()
            paragraph.append(line)
            flush()
        elif line.lstrip().startswith(("- ", "* ", "+ ", "|")) or re.match(r"\s*\d+[.)] ", line):
            flush()
            units.append(_Unit(line.strip(), "text", joiner if not units else "\n"))
            joiner = "\n\n"
        else:
            paragraph.append(line)
        i += 1
    flush()
    return units


def _scores(units: Sequence[_Unit], wanted: set[str]) -> list[float]:
    """Each unit's share of the question's terms, rarer terms counting more."""
    if not wanted:
        return [0.0] * len(units)
    unit_terms = [_tokens(u.text) & wanted for u in units]
    count = len(units)
    weight = {
        t: math.log(1 + count / (1 + sum(t in found for found in unit_terms))) for t in wanted
    }
    scores = []
    for unit, found in zip(units, unit_terms, strict=True):
        score = sum(weight[t] for t in found)
        if unit.kind == "heading":
            score *= 0.5  # a heading matches, but says little on its own
        elif unit.kind == "code":
            score *= 0.9  # on a tie, the sentence that says it in words
        scores.append(score)
    return scores


def _tokens(text: str) -> set[str]:
    """Every word (stemmed) and operator: what a question's terms are looked up in."""
    return {_stem(w) for w in _WORD.findall(text.lower())} | set(_OPERATOR.findall(text))


def _joined(units: Sequence[_Unit]) -> str:
    return units[0].text + "".join(u.joiner + u.text for u in units[1:])


def _introduces(unit: _Unit) -> bool:
    """A line that announces what follows ("See also:"), which reads as a cut when last."""
    return unit.kind != "code" and unit.text.rstrip().endswith(":")


def _cut(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + ELLIPSIS


def _cut_unit(unit: _Unit, max_chars: int) -> str:
    if unit.kind != "code":
        return _cut(unit.text, max_chars)
    lines = unit.text.split("\n")
    fence = lines[0].strip()[:3]
    kept = [lines[0]]
    size = len(lines[0]) + 5
    for line in lines[1:-1]:
        if size + len(line) + 1 > max_chars - 8:
            kept.append("# " + ELLIPSIS)
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join([*kept, fence])


def _bounded(body: str, before: bool, after: bool) -> str:
    """Cut marks around ``body``, on their own line beside a code fence."""
    if before:
        body = ELLIPSIS + ("\n" if _FENCE.match(body) else " ") + body
    if after:
        body += ("\n" if body.rstrip().endswith(("```", "~~~")) else " ") + ELLIPSIS
    return body


def _drop_headings(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if not _HEADING.match(line))


def _as_searched(question: str, passages: Sequence[Passage]) -> str:
    """The question as the search read it (typos corrected), when its passages say so."""
    searched = passages[0].metadata.get("query") if passages else None
    return searched if isinstance(searched, str) and searched.strip() else question


def _with_sections(passages: Sequence[Passage]) -> list[Passage]:
    """Each passage, then the other close sections of its lesson the retriever found
    (``metadata["sections"]``), so the quote can take the one that names what was asked."""
    expanded = []
    for passage in passages:
        expanded.append(passage)
        for section in passage.metadata.get("sections", ()):
            score = min(passage.score, float(section.get("score", 0.0)))
            title = str(section.get("title", "")) or passage.title
            expanded.append(Passage(str(section.get("text", "")), passage.source, title, score))
    return expanded


def _section_name(passage: Passage) -> str:
    """The passage's title's last part ("Lesson 5: Loops > break" -> "break")."""
    title = passage.title.replace(" (course outline)", "").strip()
    name = title.rsplit(" > ", 1)[-1].strip() or passage.source
    return re.sub(r"^Lesson \d+:\s*", "", name)


def _topic(passage: Passage) -> str:
    """What the passage is about, for "Here is what the course says about …"."""
    topic = _section_name(passage)
    # Sentence case reads on ("missing keys"); names and title case stay ("KeyError",
    # "Path.glob", "Truth Value Testing").
    if _WORD_START.match(topic) and not any(c.isupper() for c in topic[1:]):
        topic = topic[0].lower() + topic[1:]
    return topic


def _source_label(passage: Passage) -> str:
    """Where a passage comes from: its title path (lesson > section) and file."""
    title = passage.title.replace(" (course outline)", "").strip()
    if len(title) > MAX_LABEL_CHARS:
        title = title[: MAX_LABEL_CHARS - 1].rsplit(" ", 1)[0] + ELLIPSIS
    if not title or title == passage.source:
        return passage.source
    return f"{title}, {passage.source}"


def _rank(passages: Sequence[Passage], wanted: set[str]) -> list[Passage]:
    """Retrieval order, nudged towards passages (and titles) holding the question's words."""
    if not wanted:
        return list(passages)

    def key(item: tuple[int, Passage]) -> tuple[float, int]:
        index, passage = item
        found = _tokens(f"{passage.title}\n{passage.text}") & wanted
        return (-(passage.score + RANK_NUDGE * len(found) / len(wanted)), index)

    return [p for _, p in sorted(enumerate(passages), key=key)]


def _pointers(
    ranked: Sequence[Passage], picked: Sequence[Passage], quoted: str, wanted: set[str]
) -> str:
    """ "Also in the course: …": the next closest sections on the question that the quote
    did not show, by name and file, so the learner knows where to read on. On API
    references a section's name is often the answer itself (``json.dumps(obj)``)."""
    labels: list[str] = []
    for passage in ranked:
        if len(labels) == MAX_POINTERS:
            break
        name = _section_name(passage)
        label = f"{_SIGNATURE.sub('(…)', name)} ({passage.source})"
        if (
            name in quoted
            or label in labels
            or any(p.source == passage.source and p.title == passage.title for p in picked)
            or not _tokens(f"{passage.title}\n{passage.text}") & wanted
        ):
            continue
        line = "Also in the course: " + "; ".join([*labels, label])
        if len(line) > MAX_POINTER_CHARS:
            break
        labels.append(label)
    return "Also in the course: " + "; ".join(labels) if labels else ""


def _tasks_last(ranked: list[Passage]) -> list[Passage]:
    """Exercise sections after the rest: they ask the learner, they don't explain."""
    tasks = [p for p in ranked if _task(p)]
    return [p for p in ranked if p not in tasks] + tasks


def _task(passage: Passage) -> bool:
    return bool(_EXERCISES.search(_section_name(passage)))


def _relevant(passage: Passage, wanted: set[str], picked: Sequence[Passage]) -> bool:
    """Worth quoting beside the best one: on topic, and neither the same place nor the
    same words again (API references repeat a method's description under each class)."""
    if any(
        (p.source == passage.source and p.title == passage.title)
        or p.text.strip() == passage.text.strip()
        for p in picked
    ):
        return False
    found = _tokens(f"{passage.title}\n{passage.text}") & wanted
    return bool(wanted) and len(found) >= max(1, len(wanted) // 2)
