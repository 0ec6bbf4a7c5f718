"""Very short questions are rewritten so the embedder and keyword search see words."""

from __future__ import annotations

import pytest

from knowledge.rewrite import rewrite_query


@pytest.mark.parametrize(
    ("question", "says"),
    [
        ("what does // do", "floor division"),
        ("what is **kwargs", "keyword arguments"),
        ("what is *args", "positional arguments"),
        ("what does ** do with numbers", "power operator"),
        ("x % 2?", "modulo"),
    ],
)
def test_a_very_short_question_gets_words(question, says):
    rewritten = rewrite_query(question)
    assert rewritten.startswith(question) and says in rewritten


@pytest.mark.parametrize(
    "question",
    [
        "What does if __name__ == '__main__' mean?",  # the symbol is not the subject
        "how do i reverse a list in place",
        "priority queue in python",
        "whats a namedtuple",
        "Traceback: ZeroDivisionError: division by zero in x = a / b at line 3",
        "",
    ],
)
def test_other_questions_are_left_as_they_are(question):
    assert rewrite_query(question) == question
