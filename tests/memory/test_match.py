"""The key-term guard and the rules of what memory may keep, as pure functions."""

import pytest

from bot.config import PrivacySection
from bot.core.privacy import Redactor
from bot.events import ContextLine, IncomingMessage
from bot.memory.match import near_miss, same_question, terms
from bot.memory.rules import has_code, not_reusable, proved_good


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("difference between a list and a tuple", "difference between a list and a set"),
        ("How do I reset my progress?", "How do I reset my password?"),
        ("How do I convert a string to an integer?", "How do I convert an integer to a string?"),
        ("How do I print without a newline?", "How do I print a newline?"),
        ("What is the difference between == and is?", "What is the difference between = and ==?"),
        ("How do I sort a list?", "How do I sort a list in descending order?"),
        ("What is a global variable?", "global variable vs local variable?"),
        ("What is a for loop?", "What is a while loop?"),
        ("How do I activate a virtual environment?", "How do I create a virtual environment?"),
        ("How do I define a class?", "What is a class?"),
        ("What Python version can I use?", "What Python version should I use?"),
        ("Can I use a tuple as a dictionary key?", "Should I use a tuple as a dictionary key?"),
        ("Can you explain an f-string?", "Can you explain a string?"),  # one word, hyphenated
        (  # the first "to" is not the direction asked about
            "I'm new to Python. How do I convert a set to a dictionary? I'm stuck",
            "I'm new to Python. How do I convert a dictionary to a set? I'm stuck",
        ),
    ],
)
def test_near_misses_never_match_however_similar(a, b):
    assert near_miss(terms(a), terms(b))
    assert not same_question(0.999, terms(a), terms(b), 0.8)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("What's the difference between a list and a tuple?", "list vs tuple: how do they differ?"),
        ("How do I add an item to a dict?", "how to add an element to a dictionary"),
        ("How do I reset my password?", "how can I reset my password, please"),
        ("How does the with statement work?", "What is the with statement for?"),
        ("How should I name a variable?", "how do I name a variable"),
        ("Can I use a tuple as a dictionary key?", "Is it possible to use a tuple as a dict key"),
    ],
)
def test_paraphrases_keep_their_key_terms(a, b):
    assert not near_miss(terms(a), terms(b))
    assert same_question(0.9, terms(a), terms(b), 0.8)
    assert not same_question(0.7, terms(a), terms(b), 0.8)


def test_what_proved_good():
    assert proved_good("pinned", 0, 5)
    assert proved_good("cloud", 0, 0) and not proved_good("cloud", 3, 1)
    assert not proved_good("local", 0, 0) and proved_good("local", 1, 0)


@pytest.mark.parametrize(
    "text",
    [
        "Why does this fail?\n```python\nprint(x)\n```",
        "Why does this fail?\nx = [1, 2]\nprint(x[3])",
        'Traceback (most recent call last):\n  File "a.py", line 3\nIndexError',
        "what does def f(): return 1 do\ndef f(): return 1",
    ],
)
def test_pasted_code_is_recognised(text):
    assert has_code(text)


@pytest.mark.parametrize(
    "text", ["What does `len` do?", "How do I use print() to show two values?", "Is 3 == 3.0?"]
)
def test_prose_about_code_is_not_pasted_code(text):
    assert not has_code(text)


def test_why_a_message_may_not_be_reused():
    redactor = Redactor(PrivacySection())

    def why(text, **kw):
        return not_reusable(IncomingMessage(text, "u", "c", **kw), text, redactor)

    assert why("What is a list?") is None
    assert why("What is a list?", context=(ContextLine("a", "b"),)) == "context"
    assert why("Call me on +44 20 7946 0958 about lists") == "personal-data"
    assert why("Why?\n```\nx = 1\n```") == "code"
