"""Text handling every platform adapter needs: splitting, fences, citations, streaming.

Pure functions plus one small streaming helper; no platform SDK here.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence

from bot.events import Citation

FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+#.-]*)")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_message(text: str, limit: int) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters.

    Breaks at paragraph boundaries first, then lines, sentences, words, and only as a
    last resort inside a word. A code block cut in two is closed at the end of one part
    and reopened (same language) at the start of the next, so each part renders alone.
    """
    if limit < 20:
        raise ValueError("limit too small to split sensibly")
    text = text.strip("\n")
    if len(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    reopen = ""  # the fence line to reopen at the top of the next part
    rest = text
    while rest:
        budget = limit - len(reopen)
        if len(rest) <= budget:
            part, rest = reopen + rest, ""
        else:
            # Reserve room to close a fence that is open at the cut.
            cut = _cut_point(rest, budget - 4)
            part, rest = reopen + rest[:cut].rstrip(), rest[cut:].lstrip("\n")
            if not rest.strip():
                rest = ""
        fence = open_fence(part)
        if fence is not None and rest:
            part = part.rstrip("\n") + "\n" + fence[0]
            reopen = fence[0] + fence[1] + "\n"
        else:
            reopen = ""
        if part.strip():
            parts.append(part)
    return parts


def _cut_point(text: str, budget: int) -> int:
    """Where to cut ``text`` so the head fits in ``budget``: the nicest boundary."""
    window = text[: budget + 1]
    for boundary in ("\n\n", "\n"):
        at = window.rfind(boundary, budget // 3)
        if at > 0:
            return at
    sentences = [m.end() for m in SENTENCE_END.finditer(window) if m.end() <= budget]
    if sentences and sentences[-1] > budget // 3:
        return sentences[-1]
    at = window.rfind(" ", budget // 3)
    return at if at > 0 else budget


def open_fence(text: str) -> tuple[str, str] | None:
    """The (marker, language) of a code fence ``text`` leaves open, or None."""
    open_fence: tuple[str, str] | None = None
    for line in text.splitlines():
        match = FENCE.match(line)
        if not match:
            continue
        if open_fence is None:
            open_fence = (match.group(1), match.group(2))
        elif match.group(1).startswith(open_fence[0][0]) and not match.group(2):
            open_fence = None
    return open_fence


def balance_fences(text: str) -> str:
    """Close a code fence the text leaves open (a partial answer while streaming)."""
    fence = open_fence(text)
    return text if fence is None else text.rstrip("\n") + "\n" + fence[0]


def render_citations(
    citations: Sequence[Citation], *, link: Callable[[Citation], str] | None = None
) -> str:
    """A compact sources line: ``Sources: [1] Lists (lessons/03-lists.md) · [2] ...``."""
    if not citations:
        return ""
    seen: list[Citation] = []
    for c in citations:
        if all(c.source != s.source or c.title != s.title for s in seen):
            seen.append(c)
    items = [
        f"[{i}] {link(c) if link else f'{c.title} ({c.source})'}" for i, c in enumerate(seen, 1)
    ]
    return "Sources: " + " · ".join(items)


class ThrottledStream:
    """Collects streamed text and pushes the running total at most once per ``interval``.

    ``push(text)`` is the platform's edit or append call. Edits are rate-limited on both
    Discord and Slack (about one per second per message), so intermediate states are
    coalesced; ``finish()`` always pushes the final text. With ``whole_words`` a push
    before the end stops at the last whitespace, so a word is never cut in two (for
    appends, which cannot be taken back); the wait starts again only once text went out.
    """

    def __init__(
        self,
        push: Callable[[str], Awaitable[None]],
        *,
        interval: float = 1.0,
        whole_words: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._push = push
        self._interval = interval
        self._whole_words = whole_words
        self._clock = clock
        self._last_push = -math.inf
        self._pushed: str | None = ""
        self._lock = asyncio.Lock()
        self.text = ""

    async def add(self, delta: str) -> None:
        self.text += delta
        if self._clock() - self._last_push >= self._interval:
            await self._flush(final=False)

    def reset(self, text: str = "") -> None:
        """Void what was pushed: the next push goes out even if its text is unchanged."""
        self.text = text
        self._pushed = None

    async def finish(self) -> None:
        await self._flush(final=True)

    async def _flush(self, *, final: bool) -> None:
        async with self._lock:
            text = self.text
            if self._whole_words and not final:
                text = text[: max(text.rfind(" "), text.rfind("\n")) + 1]
            if text == self._pushed or (not final and not text):
                return
            self._last_push = self._clock()
            self._pushed = text
            await self._push(text)


# --- links chosen by a model ---------------------------------------------------------------
# A model (or course text it quotes) can write "[Verify your account](https://evil...)": a
# label that hides where the link goes. Answers show the URL itself instead.
MASKED_LINK = re.compile(
    r"\[([^\[\]\n]{1,300})\]\(\s{0,4}<?(https?://[^\s()<>]{1,2000})>?\s{0,4}\)"
)
SLACK_LINK = re.compile(r"<(https?://[^\s|<>]{1,2000})\|([^<>\n]{1,300})>")
# A link still being written at the end of a streamed text: "[label", "[label](https://ex".
UNFINISHED_LINK = re.compile(
    r"(?:\[[^\[\]\n]{0,300}(?:\](?:\(\s{0,4}<?[^\s()<>]{0,2000})?)?|<https?:[^\s|<>]{0,2000}"
    r"(?:\|[^<>\n]{0,300})?)\Z"
)
_TAIL_CHARS = 2400  # an unfinished link is never longer than this


def plain_links(text: str, wrap: Callable[[str], str] = lambda url: url) -> str:
    """``[label](url)`` and Slack's ``<url|label>`` as ``label (url)``: the URL in plain view.

    ``wrap`` dresses the URL (Discord: ``<url>``, which also keeps it from unfurling).
    """
    text = MASKED_LINK.sub(lambda m: f"{m.group(1)} ({wrap(m.group(2))})", text)
    return SLACK_LINK.sub(lambda m: f"{m.group(2)} ({wrap(m.group(1))})", text)


def unfinished_link(text: str) -> int:
    """Where a link still being written starts at the end of ``text`` (``len(text)`` if none).

    A stream holds that tail back until the link is whole, so it goes out as plain text.
    """
    start = max(0, len(text) - _TAIL_CHARS)
    match = UNFINISHED_LINK.search(text, start)
    return match.start() if match else len(text)
