"""Redaction of personal data before anything is sent to a cloud model."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from bot.config import PrivacySection
from bot.events import ChatMessage

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,}")
# International or local phone numbers: 8+ digits with optional separators and +prefix.
PHONE = re.compile(r"(?<![\w+])\+?\d[\d ().-]{6,}\d(?!\w)")


class Redactor:
    def __init__(self, config: PrivacySection) -> None:
        self._rules: list[tuple[str, re.Pattern[str], str]] = []
        if config.redact_emails:
            self._rules.append(("email", EMAIL, "[email]"))
        if config.redact_phones:
            self._rules.append(("phone", PHONE, "[phone]"))
        for pattern in config.redact_patterns:
            self._rules.append(("pattern", re.compile(pattern), "[redacted]"))

    def redact(self, text: str) -> tuple[str, set[str]]:
        """The text with personal data replaced, and which kinds were found."""
        found: set[str] = set()
        for kind, pattern, replacement in self._rules:

            def swap(match: re.Match[str], kind: str = kind, replacement: str = replacement) -> str:
                if not _digits_ok(kind, match):
                    return match.group(0)
                found.add(kind)
                return replacement

            text = pattern.sub(swap, text)
        return text, found

    def redact_prompt(self, messages: Sequence[ChatMessage]) -> tuple[list[ChatMessage], set[str]]:
        """Redact the learner's and the tutor's turns; the system prompt is ours."""
        found: set[str] = set()
        out = []
        for message in messages:
            if message.role == "system":
                out.append(message)
                continue
            text, kinds = self.redact(message.content)
            found |= kinds
            out.append(replace(message, content=text))
        return out, found


def _digits_ok(kind: str, match: re.Match[str]) -> bool:
    """Phone matches need 8-15 digits, so years, versions and small numbers survive."""
    if kind != "phone":
        return True
    digits = sum(ch.isdigit() for ch in match.group(0))
    return 8 <= digits <= 15
