"""Spelling correction against the course's words, with a real English dictionary."""

from __future__ import annotations

import pytest

from knowledge.spelling import CourseSpelling, known_words

COURSE_WORDS = {
    "finally": 12, "except": 30, "tuple": 20, "tuples": 4, "dictionary": 15,
    "enumerate": 6, "loops": 9, "line": 40, "lines": 8, "keep": 5, "while": 25,
}  # fmt: skip


@pytest.fixture(scope="module")
def spelling() -> CourseSpelling:
    return CourseSpelling.of(None, COURSE_WORDS)


@pytest.mark.parametrize(
    ("question", "corrected"),
    [
        ("can i use finalyl without except", "can i use finally without except"),
        ("whats a tupel", "whats a tuple"),
        ("how do i use enumrate in a for loop", "how do i use enumerate in a for loop"),
        ("looping over a dictionaryy", "looping over a dictionary"),
        ("Whiel loops?", "while loops?"),
    ],
)
def test_misspelt_words_become_the_courses_closest_words(spelling, question, corrected):
    assert spelling.correct(question) == corrected


@pytest.mark.parametrize(
    "question",
    [
        "how do i get red wine out of a carpet",  # "wine" is English: never "line"
        "How deep is the Mariana Trench?",  # not "keep"
        "what is a tuple",  # nothing to correct
        "is an iterator undefined here",  # Python's words, though not in the course
        "how do i sum a list of ints",  # a known word's plural
        "zzqxv blorptastic",  # nothing close enough in the course
        "",
        "x" * 20_000,
    ],
)
def test_real_words_and_far_words_are_left_alone(spelling, question):
    assert spelling.correct(question) == question


def test_the_dictionary_ships_with_the_embedder_package():
    words = known_words()
    assert {"wine", "carpet", "deep", "puppy"} <= words
    assert not {"finalyl", "tupel", "enumrate"} & words
