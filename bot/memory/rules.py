"""What course memory may store and reuse: pure rules, no I/O."""

from __future__ import annotations

import re

from bot.core.privacy import Redactor
from bot.core.router import MessageShape
from bot.events import IncomingMessage

# A line of pasted code outside a fence: a statement, a call, an assignment, a prompt.
CODE_LINE = re.compile(
    r"^\s*(>>>|def |class |import |from \S+ import |for .+:$|while .+:$|if .+:$|return\b"
    r"|print\(|[A-Za-z_][\w.\[\]]* *[-+*/]?= *\S|\w+\(.*\)\s*$|[{}\[\]();]+\s*$)"
)


# A question that leans on the conversation before it: "what about tuples?", "why is that?"
REFERS_BACK = re.compile(
    r"(?i)^\s*(what about|how about|and|but|also|same)\b|\b(it|that|this|those|these|them|one)\b"
)


def refers_back(question: str) -> bool:
    """Does this question lean on earlier turns (so it may not mean what it says alone)?"""
    return bool(REFERS_BACK.search(question))


def proved_good(origin: str, votes_up: int, votes_down: int) -> bool:
    """May this answer be given again? A moderator's (pinned) answer always may; a cloud
    answer unless a learner voted it down; a local answer only once voted up (and not down).
    """
    if origin == "pinned":
        return True
    if origin == "cloud":
        return votes_down == 0
    return votes_up > 0 and votes_down == 0


def has_code(text: str) -> bool:
    """Pasted code: a fenced block, a traceback, or a line that reads as code."""
    if MessageShape.of(text).code_lines:
        return True
    lines = [line for line in text.splitlines() if line.strip()]
    return "```" in text or any(CODE_LINE.match(line) for line in lines)


def not_reusable(msg: IncomingMessage, question: str, redactor: Redactor) -> str | None:
    """Why this message may not be answered from memory (nor its answer stored), or None.

    Pasted code and thread context make a question about that code or that thread;
    personal data must never be stored nor shown to another learner.
    """
    if msg.context:
        return "context"
    if has_code(msg.text):
        return "code"
    if redactor.redact(question)[1]:
        return "personal-data"
    return None
