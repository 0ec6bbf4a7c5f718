"""What the text work before a model costs on hostile learner messages (finding 5).

Prints, for each hostile shape at ``tutor.max_input_chars`` (8,000 characters), the time
the router's message split and the cloud redaction take, beside plain prose of the same
length. Both are linear now; before the fix the router took about 1 s on blank lines and
redaction seconds on digit groups.

    python bench/text_cost.py
"""

from __future__ import annotations

import time

from _common import machine

from bot.config import PrivacySection
from bot.core.privacy import Redactor
from bot.core.router import MessageShape

N = 8000


def _cut(unit: str) -> str:
    return (unit * (N // len(unit) + 1))[:N]


SHAPES = {
    "plain prose": _cut("The quick brown fox jumps over the lazy dog, then naps. "),
    "blank lines": "a" + "\n" * (N - 2) + "a",
    "spaces": "a" + " " * (N - 2) + "a",
    "digit groups": _cut("1111111 "),
    "digits, letter": "1" * (N - 1) + "a",
    "phone numbers": _cut("555-123-4567 "),
    "brackets": _cut("[("),
    "underscores": _cut("_"),
    "backtick fences": _cut("```\n"),
}


def best_ms(work, text: str, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work(text)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:
    redactor = Redactor(PrivacySection())
    print(f"text work on {N:,}-character messages ({machine()}), best of 5")
    print(f"{'shape':<16} {'router split':>13} {'redaction':>10}")
    for name, text in SHAPES.items():
        split = best_ms(MessageShape.of, text)
        redact = best_ms(redactor.redact, text)
        print(f"{name:<16} {split:>10.2f} ms {redact:>7.2f} ms")


if __name__ == "__main__":
    main()
