"""The loop guard on answers the embedded model really gave, streamed as it streams them.

``data/embedded_outputs.jsonl`` holds SmolLM2-135M answers to course questions captured
by ``bench/embedded_sampling.py``, each labelled by reading it: ``loops`` true when it
falls into repeating itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.core.repetition import LoopGuard, LoopSettings, detect_loop

OUTPUTS = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "embedded_outputs.jsonl").open(encoding="utf-8")
]
LOOPING = [o for o in OUTPUTS if o["loops"]]
FINE = [o for o in OUTPUTS if not o["loops"]]


def stream(text: str, size: int = 4) -> tuple[LoopGuard, int | None]:
    """Feed ``text`` in small pieces, as tokens arrive; where the guard fired, if it did."""
    guard = LoopGuard()
    for start in range(0, len(text), size):
        if guard.feed(text[start : start + size]):
            return guard, start + size
    guard.finish()
    return guard, None


def test_the_captured_set_has_both_kinds():
    assert len(LOOPING) >= 8 and len(FINE) >= 8


@pytest.mark.parametrize("output", LOOPING, ids=lambda o: o["id"])
def test_a_looping_answer_is_stopped_early(output):
    guard, stopped = stream(output["text"])
    assert guard.looping and stopped is not None, output["text"]
    assert stopped < len(output["text"])  # before the end of the stream
    assert len(guard.kept) < stopped  # what was said once, without the repetition


@pytest.mark.parametrize("output", FINE, ids=lambda o: o["id"])
def test_an_answer_that_does_not_loop_runs_to_the_end(output):
    guard, stopped = stream(output["text"])
    assert stopped is None and guard.reason is None, guard.reason
    assert guard.kept == output["text"]


@pytest.mark.parametrize("size", [1, 3, 7, 50, 10_000])
def test_how_the_text_is_cut_into_deltas_does_not_matter(size):
    for output in OUTPUTS:
        whole = detect_loop(output["text"])
        guard, _ = stream(output["text"], size)
        assert guard.reason == whole


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("A list of lists is useful. " + "a list of lists, " * 4, "repeated-phrase(4w x3)"),
        ("1. Use a for loop.\n2. Use a for loop.\n3. Use a for loop.\n", "repeated-phrase(5w x3)"),
        (
            "Use a for loop to repeat.\nThen print it.\nUse a for loop to repeat.\nThen sort.\n"
            "Use a for loop to repeat.\n",
            "repeated-line(x3)",
        ),
        (
            "To add, call append. To add an item to the end of the list, call append. "
            "You can also insert. To add an item to the end of the list, call append. "
            "Sorting is different. To add an item to the end of the list, call append.",
            "phrase-again(x3)",
        ),
    ],
)
def test_the_three_kinds_of_loop(text, reason):
    assert detect_loop(text) == reason


def test_code_may_repeat_short_lines():
    text = "```python\nfor x in a:\n    print(x)\nfor y in b:\n    print(x)\nprint(x)\n```\n"
    assert detect_loop(text) is None
    assert detect_loop("Use `==` to compare: `x == y`, and `!=` otherwise: `x != y`.") is None


def test_rules_operators_and_runs_of_numbers_are_not_loops():
    rule = "=" * 70
    assert detect_loop(f"Source: pdb.py\n\n{rule}\n\nThe module pdb defines a debugger.") is None
    assert detect_loop("x == y and y == x, x != y and y != x") is None
    pairs = "permutations(range(3), 2) --> (0,1), (0,2), (1,0), (1,2), (2,0), (2,1)"
    assert detect_loop(f"{pairs}\nfrom 18-itertools.md") is None


def test_kept_is_the_text_before_the_loop():
    guard = LoopGuard()
    guard.feed("Lesson 3 is about conditions. It covers a list of lists, a list of lists, ")
    assert not guard.looping
    guard.feed("a list of lists, a list of lists")
    assert guard.looping
    assert guard.kept == "Lesson 3 is about conditions. It covers a list of lists,"
    assert guard.feed("more") is True  # stays looping


def test_settings_are_adjustable():
    text = "one two three. one two three. one two three."
    assert detect_loop(text) is None  # 9 words: too short to call a loop
    assert detect_loop(text, LoopSettings(min_span=6)) == "repeated-phrase(3w x3)"
