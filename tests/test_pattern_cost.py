"""Every regular expression that sees learner text stays linear (finding 5).

A learner's message is at most ``tutor.max_input_chars`` long, but a pattern that
backtracks quadratically on it stalls the event loop for every platform. Each pattern is
run on hostile texts and on plain prose of the same length; the cost is a ratio to the
prose (a baseline measured in the same test, on the same loaded machine), never an
absolute time. A quadratic pattern is thousands of times slower at this length; the limit
is generous so that a busy machine cannot fail a linear one.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable

import pytest

from bot.config import PrivacySection
from bot.core.privacy import Redactor
from bot.core.router import MessageShape

N = 20_000  # characters: past max_input_chars, where quadratic work is unmistakable
LIMIT = 150  # times the cost on plain prose of the same length

MODULES = (
    "bot.core.router",
    "bot.core.privacy",
    "bot.core.excerpt",
    "bot.core.confidence",
    "bot.core.repetition",
    "bot.core.prompt",
    "bot.core.plan",
    "bot.core.tutor",
    "bot.core.history",
    "adapters.text",
    "adapters.discord.text",
    "adapters.slack.translate",
    "adapters.slack.format",
    "knowledge.navigation",
    "knowledge.retriever",
)


def _cut(unit: str) -> str:
    return (unit * (N // len(unit) + 1))[:N]


HOSTILE = {
    "newlines": "a" + "\n" * (N - 2) + "a",
    "spaces": "a" + " " * (N - 2) + "a",
    "blank lines": _cut("\n \t"),
    "backticks": _cut("`"),
    "fences": _cut("```\n"),
    "tildes": _cut("~"),
    "digit groups": _cut("1111111 "),
    "digits then a letter": "1" * (N - 1) + "a",
    "spaced digits then a letter": _cut("1 ")[:-1] + "a",
    "dashed digits": _cut("1-"),
    "phone-like": _cut("555-123-4567 "),
    "at signs": _cut("a@"),
    "dots": _cut("a."),
    "underscores": _cut("_"),
    "quotes": _cut("a'"),
    "letters": _cut("a"),
    "operators": _cut("=<"),
    "mixed": _cut("a1 -.@"),
    "brackets": _cut("[("),
    "angles": _cut("<"),
    "mentions": _cut("<@1"),
    "urls": _cut("http://a"),
    "traceback": _cut('File "'),
    "words and spaces": _cut("lesson  "),
}
PLAIN = _cut("The quick brown fox jumps over the lazy dog, then naps. ")
REFERENCE = re.compile(r"\S+")


def _cost(work: Callable[[str], object], text: str) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        work(text)
        best = min(best, time.perf_counter() - started)
    return best


def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
                found.append((f"{name}.{attr}", value))
    return found


def _worst(work: Callable[[str], object]) -> tuple[float, str]:
    # The baseline is the work itself on prose, floored by a plain linear scan of it.
    baseline = max(_cost(work, PLAIN), _cost(lambda t: REFERENCE.findall(t), PLAIN))
    return max((_cost(work, text) / baseline, label) for label, text in HOSTILE.items())


@pytest.mark.parametrize(("name", "pattern"), _patterns(), ids=lambda v: str(v)[:60])
def test_every_pattern_stays_linear_on_hostile_text(name, pattern):
    ratio, label = _worst(lambda text: sum(1 for _ in pattern.finditer(text)))
    assert ratio < LIMIT, f"{name} costs {ratio:.0f}x plain text on {label}"


REDACTOR = Redactor(PrivacySection(redact_patterns=[]))


@pytest.mark.parametrize(
    ("name", "work"),
    [("MessageShape.of", MessageShape.of), ("Redactor.redact", REDACTOR.redact)],
)
def test_the_text_work_before_a_model_stays_linear(name, work):
    ratio, label = _worst(work)
    assert ratio < LIMIT, f"{name} costs {ratio:.0f}x plain text on {label}"
