"""Redaction of personal data before anything is sent to a cloud model.

Phone numbers are found by ``phonenumbers`` (Google's libphonenumber, maintained), card
numbers by a bounded pattern plus the Luhn check, e-mail addresses by a bounded pattern
allowing every character an address may hold. Every pattern here is linear in the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

import phonenumbers

from bot.config import PrivacySection
from bot.events import MATERIAL_CLOSE, MATERIAL_OPEN, ChatMessage

# Local part: a word character first (so a quote before the address stays), then up to
# 63 of the characters RFC 5322 allows; the domain: up to ten labels and a TLD.
EMAIL = re.compile(
    r"(?<![\w.!#$%&*+/=?^`{|}~-])"  # only where a run starts: linear on a run of letters
    r"[\w+-][\w.!#$%&'*+/=?^`{|}~-]{0,63}@(?:[A-Za-z0-9-]{1,63}\.){1,10}[A-Za-z]{2,24}\b"
)
# 13-19 digits, single spaces or dashes between them; kept only when the Luhn sum holds.
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
# Leniency POSSIBLE: numbers shaped like a phone number of the region (555 numbers too).
_LENIENCY = phonenumbers.Leniency.POSSIBLE
# phonenumbers costs a fraction of a millisecond per candidate: past this many runs of
# digits (a pasted table, a flood of numbers) every 7-15 digit number is redacted instead.
MAX_DIGIT_RUNS = 120
DIGIT_RUN = re.compile(r"\d+")
PHONE_FALLBACK = re.compile(r"(?<![\w+])\+?\d(?:[ ().\-\u2010-\u2015]{0,2}\d){6,14}(?!\d)")


class Redactor:
    def __init__(self, config: PrivacySection) -> None:
        self._region = config.phone_region
        self._rules: list[tuple[str, Callable[[str], list[tuple[int, int]]], str]] = []
        if config.redact_cards:
            self._rules.append(("card", _cards, "[card]"))
        if config.redact_emails:
            self._rules.append(("email", _pattern_spans(EMAIL), "[email]"))
        if config.redact_phones:
            self._rules.append(("phone", self._phones, "[phone]"))
        for pattern in config.redact_patterns:
            self._rules.append(("pattern", _pattern_spans(re.compile(pattern)), "[redacted]"))

    def redact(self, text: str) -> tuple[str, set[str]]:
        """The text with personal data replaced, and which kinds were found."""
        found: set[str] = set()
        for kind, spans_of, replacement in self._rules:
            spans = spans_of(text)
            if not spans:
                continue
            found.add(kind)
            out, last = [], 0
            for start, end in spans:
                out.append(text[last:start])
                out.append(replacement)
                last = end
            out.append(text[last:])
            text = "".join(out)
        return text, found

    def redact_prompt(self, messages: Sequence[ChatMessage]) -> tuple[list[ChatMessage], set[str]]:
        """Redact every turn that may carry people's words: the question, others' context
        and the history. The system prompt and the course material are ours: never touched.
        """
        found: set[str] = set()
        out = []
        for message in messages:
            if message.role == "system":
                out.append(message)
                continue
            material, rest = _split_material(message.content)
            text, kinds = self.redact(rest)
            found |= kinds
            out.append(replace(message, content=material + text))
        return out, found

    def _phones(self, text: str) -> list[tuple[int, int]]:
        for runs, _ in enumerate(DIGIT_RUN.finditer(text), 1):
            if runs > MAX_DIGIT_RUNS:
                return [m.span() for m in PHONE_FALLBACK.finditer(text)]
        matcher = phonenumbers.PhoneNumberMatcher(text, self._region, leniency=_LENIENCY)
        return [(match.start, match.end) for match in matcher]


def _pattern_spans(pattern: re.Pattern[str]) -> Callable[[str], list[tuple[int, int]]]:
    def spans(text: str) -> list[tuple[int, int]]:
        return [m.span() for m in pattern.finditer(text) if m.end() > m.start()]

    return spans


def _cards(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in CARD.finditer(text) if _luhn(m.group(0))]


def _luhn(number: str) -> bool:
    digits = [int(ch) for ch in number if ch.isdigit()]
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _split_material(content: str) -> tuple[str, str]:
    """The leading course-material block (kept verbatim) and the rest of a turn."""
    if not content.startswith(MATERIAL_OPEN):
        return "", content
    end = content.find(MATERIAL_CLOSE)
    if end < 0:
        return "", content
    end += len(MATERIAL_CLOSE)
    return content[:end], content[end:]
