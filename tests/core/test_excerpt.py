"""Passages trimmed around the question, and the course's own words as a reply."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.core.excerpt import (
    ELLIPSIS,
    MAX_POINTER_CHARS,
    QUOTE_CHARS,
    course_quote,
    fit_passages,
    terms,
    trim,
)
from bot.ports import Passage

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "course").glob("*.md"))


def body(name: str) -> str:
    return (ROOT / "course" / name).read_text(encoding="utf-8").split("---", 2)[2]


def section(name: str, heading: str) -> str:
    """One section's text, as the chunker indexes it (its heading is in the title)."""
    text = body(name)
    start = text.index(heading) + len(heading)
    end = text.find("\n## ", start)
    return text[start : end if end != -1 else None].strip()


def passage(name: str, heading: str, title: str, score: float = 0.7) -> Passage:
    return Passage(section(name, heading), name, title, score)


def test_a_text_that_fits_is_returned_as_it_is():
    text = section("05-loops.md", "## break and continue")
    assert trim(text, "break vs continue", 5000) == text


def test_the_sentences_that_match_the_question_are_kept():
    text = body("05-loops.md")
    trimmed = trim(text, "whats the diff between break and continue", 400)
    assert "`break` leaves the loop at once" in trimmed
    assert len(trimmed) <= 400
    assert trimmed.startswith(ELLIPSIS) and trimmed.endswith(ELLIPSIS)


def test_python_keywords_count_when_they_are_the_subject():
    assert {"else", "try"} <= terms("when does the else part of a try run")
    assert {"is", "=="} <= terms("whats the difference between is and ==")
    assert "with" in terms("what does the `with` statement do")
    assert "with" not in terms("can you help me with lists")
    assert terms("what is lesson 3 about?") == set()


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.name)
@pytest.mark.parametrize("size", [120, 250, 400, 700, 1000])
def test_a_trimmed_text_stays_in_budget_with_balanced_code_fences(lesson, size):
    text = lesson.read_text(encoding="utf-8").split("---", 2)[2]
    for question in ("how do I use this?", "what is an error", "sort a list with a loop"):
        trimmed = trim(text, question, size)
        assert len(trimmed) <= size, (question, trimmed)
        assert trimmed.count("```") % 2 == 0, trimmed
        assert trimmed.strip()


def test_fit_passages_spends_the_budget_on_the_best_passage_first():
    passages = [
        passage("05-loops.md", "## break and continue", "Lesson 5: Loops > break and continue"),
        passage("05-loops.md", "## The while loop", "Lesson 5: Loops > The while loop", 0.6),
    ]
    one = fit_passages("how do I leave a loop early with break", passages, 300)
    assert [p.title for p in one] == [passages[0].title]
    assert len(one[0].text) <= 300 and "`break` leaves the loop" in one[0].text
    both = fit_passages("loop", passages, 2000, max_passages=2)
    assert [p.text for p in both] == [p.text for p in passages]
    assert both[0].source == "05-loops.md" and both[0].score == 0.7


def test_the_course_quote_names_its_sources_briefly():
    passages = [
        passage("05-loops.md", "## break and continue", "Lesson 5: Loops > break and continue"),
        passage("05-loops.md", "## The while loop", "Lesson 5: Loops > The while loop", 0.6),
        passage("06-functions.md", "## Docstrings", "Lesson 6: Functions > Docstrings", 0.5),
    ]
    quote = course_quote("whats the diff between break and continue", passages)
    assert quote is not None
    assert quote.startswith("Here is what the course says about break and continue:")
    assert "`break` leaves the loop at once" in quote
    assert "(from Lesson 5: Loops > break and continue, 05-loops.md)" in quote
    assert "Docstrings" not in quote  # off the question: not quoted
    assert len(quote) <= 700
    assert quote.count("```") % 2 == 0


def test_a_second_passage_is_quoted_when_it_is_on_the_question_too():
    passages = [
        passage("07-dictionaries.md", "## Missing keys: KeyError and get()", "Lesson 7 > Keys"),
        passage(
            "08-errors.md", "## Common exceptions", "Lesson 8: Errors > Common exceptions", 0.5
        ),
    ]
    quote = course_quote("KeyError when reading a key that is missing", passages, 600)
    assert quote is not None and len(quote) <= 600
    assert quote.startswith("Here is what the course says about keys:")
    assert "(from Lesson 7 > Keys, 07-dictionaries.md)" in quote
    assert "(from Lesson 8: Errors > Common exceptions, 08-errors.md)" in quote


def test_the_passage_that_names_what_was_asked_for_is_quoted_first():
    general = Passage(
        "The json module encodes and decodes JSON text.", "j.md", "Lesson 9: json", 0.58
    )
    load = Passage(
        "Deserialize fp (a .read()-supporting file) to a Python object.",
        "j.md",
        "Lesson 9: json > json.load(fp)",
        0.55,
    )
    quote = course_quote("how to read json from a file", [general, load])
    assert quote is not None
    assert quote.startswith("Here is what the course says about json.load(fp):")
    assert "(from Lesson 9: json > json.load(fp), j.md)" in quote


def test_no_passages_no_quote():
    assert course_quote("anything", []) is None
    assert course_quote("anything", [Passage("  ", "a.md", "A", 0.5)]) is None


def test_a_lessons_other_close_section_is_quoted_when_it_names_what_was_asked():
    intro = body("05-loops.md").split("\n## ", 1)[0].strip()
    loops = Passage(
        intro,
        "05-loops.md",
        "Lesson 5: Loops",
        0.49,
        metadata={
            "sections": [
                {
                    "text": section("05-loops.md", "## break and continue"),
                    "title": "Lesson 5: Loops > break and continue",
                    "score": 0.44,
                }
            ]
        },
    )
    quote = course_quote("How do I skip the rest of a loop iteration?", [loops])
    assert quote is not None
    assert "`continue` skips the rest" in quote
    assert "(from Lesson 5: Loops > break and continue, 05-loops.md)" in quote


def test_the_quote_names_other_close_sections_on_the_question_after_it():
    def api(name: str, text: str, score: float) -> Passage:
        return Passage(text, "50-base64.md", f"Lesson 50: The base64 module > {name}", score)

    passages = [
        api("base64.encodebytes(s)", "Encode a bytestring into base-64 lines.", 0.6),
        api("base64.b16encode(s)", "Encode the bytes-like object s using Base16.", 0.59),
        api("base64.b64encode(s, altchars=None)", "Encode the bytes-like object s.", 0.58),
        api("base64.b32encode(s)", "Encode the bytes-like object s using Base32.", 0.57),
        Passage("Unrelated words entirely.", "99-x.md", "Lesson 99: Other > Misc", 0.56),
    ]
    quote = course_quote("base64 encode some bytes", passages)
    assert quote is not None
    *quoted, last = quote.split("\n\n")
    assert last.startswith("Also in the course: ")
    named = last.removeprefix("Also in the course: ").split("; ")
    cited = [line for part in quoted for line in part.splitlines() if line.startswith("(from")]
    assert len(cited) == 2 and len(named) == 2
    for name in ("encodebytes(s)", "b16encode(s)", "b64encode(s, altchars=None)", "b32encode(s)"):
        # each section is either quoted or named, once
        assert sum(f"base64.{name}" in line for line in [*cited, *named]) == 1
    assert all(n.endswith("(50-base64.md)") for n in named)
    assert "Misc" not in quote  # holds none of the question's words: not named


def test_a_quote_with_its_pointers_stays_short():
    long = "Loops repeat code. " * 200
    passages = [
        Passage(long, f"{n:02}-loops.md", f"Lesson {n}: Loops > Part {n} of loops", 0.7 - n / 100)
        for n in range(1, 9)
    ]
    quote = course_quote("how do loops repeat code", passages)
    assert quote is not None
    assert "Also in the course:" in quote
    assert len(quote) <= QUOTE_CHARS + MAX_POINTER_CHARS + 2


@pytest.mark.parametrize(
    ("title", "topic"),
    [
        ("Lesson 7: Dictionaries > Missing keys", "missing keys"),
        ("Lesson 7: Dictionaries > KeyError", "KeyError"),
        ("Lesson 21: The pathlib module > Path.glob", "Path.glob"),
        ("Lesson 64: Truth Value Testing", "Truth Value Testing"),
    ],
)
def test_the_quote_names_its_topic_in_the_titles_case(title: str, topic: str):
    quote = course_quote("anything at all", [Passage("Some text.", "a.md", title, 0.5)])
    assert quote is not None
    assert quote.startswith(f"Here is what the course says about {topic}:")


def test_pointers_shorten_long_parameter_lists():
    def api(name: str, score: float) -> Passage:
        return Passage("Insert x in a sorted list.", "09-bisect.md", f"L9: bisect > {name}", score)

    passages = [
        api("bisect.insort_left(a, x, lo=0, hi=None, *, key=None)", 0.6),
        api("bisect.insort_right(a, x, lo=0, hi=None, *, key=None)", 0.59),
        api("bisect.insort(a, x, lo=0, hi=None, *, key=None)", 0.58),
        api("bisect.bisect(a, x)", 0.57),
    ]
    quote = course_quote("insert into a sorted list", passages)
    assert quote is not None
    pointers = quote.rsplit("\n\n", 1)[-1]
    assert pointers.startswith("Also in the course: ")
    assert "(…) (09-bisect.md)" in pointers  # a long signature is cut
    assert "key=None" not in pointers


def test_an_exercise_section_is_not_quoted_while_a_section_that_explains_is_found():
    exercises = passage("02-strings.md", "## Exercises", "Lesson 2: Strings > Exercises", 0.6)
    slicing = passage(
        "02-strings.md", "## Indexing and slicing", "Lesson 2: Strings > Indexing and slicing", 0.5
    )
    quote = course_quote("how do i get the last character of a string", [exercises, slicing])
    assert quote is not None
    assert quote.startswith("Here is what the course says about indexing and slicing:")
    assert "(from Lesson 2: Strings > Exercises" not in quote


def test_the_same_words_are_not_quoted_twice():
    words = "Get the next random number in the range 0.0 <= X < 1.0."
    passages = [
        Passage(words, "37-secrets.md", "Lesson 37: secrets > SystemRandom.random", 0.6),
        Passage(words, "16-random.md", "Lesson 16: random > random.random()", 0.59),
    ]
    quote = course_quote("random number", passages)
    assert quote is not None
    assert quote.count(words) == 1


def test_the_quote_reads_the_question_as_the_search_read_it():
    text = (
        "Loops repeat work. A while loop runs as long as its condition holds. "
        "The enumerate() function gives each item with its position. "
        "Ranges count numbers for you."
    )
    searched = {"query": "how do i use enumerate"}  # the search corrected "enumrate"
    passage = Passage(text, "05-loops.md", "Lesson 5: Loops", 0.6, metadata=searched)
    quote = course_quote("how do i use enumrate", [passage], max_chars=200)
    assert quote is not None and "enumerate() function" in quote
    unread = course_quote("how do i use enumrate", [replace(passage, metadata={})], 200)
    assert unread is not None and "enumerate() function" not in unread


def test_a_trimmed_text_does_not_end_on_a_line_that_introduces_what_was_cut():
    text = (
        "The round function rounds a number to a given precision. "
        "It returns an int when called with one argument. "
        + "Rounding halves goes to the even choice, which surprises people. " * 3
        + "See also:\n\n"
        + "A long list of related functions follows here, with more words than fit. " * 8
    )
    trimmed = trim(text, "how does round work with one argument", 330)
    assert "rounds a number" in trimmed
    assert "See also:" not in trimmed
    assert trimmed.endswith(ELLIPSIS)


def test_a_chunk_cut_after_its_announcing_line_ends_before_it():
    text = "Floats can be formatted with a precision. The available presentation types are:"
    kept = "Floats can be formatted with a precision."
    assert trim(text, "format a float", 500) == f"{kept} {ELLIPSIS}"
    assert trim("Notes:", "notes", 500) == "Notes:"
    assert trim("", "notes", 500) == ""
