"""Telling early that a streamed answer is looping, so the stream can be stopped.

Small models fall into loops: the same phrase again and again ("a list of lists, a list of
lists, ..."), the same line, or a sentence that keeps coming back. ``LoopGuard`` is fed the
text as it streams and says so as soon as one of these shows:

- a run of words repeated back to back: a unit of ``p`` words ``repeats`` times in a row
  (3 times and at least ``min_span`` words in all, or twice for a unit of ``long_unit``
  words or more);
- a line of at least ``min_line_chars`` characters for the ``line_repeats``-th time
  (in code: longer lines, one more time);
- a phrase of ``phrase_words`` words for the ``phrase_repeats``-th time anywhere in the prose.

Words and operators are compared, not punctuation or case; in prose, a number counts as
one symbol ("1." and "2." match) and so does a run of numbers. Inside code fences only
longer lines count as repeated lines, digits count, and phrases are not counted. Pure,
standard library only.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

# Words and the operators that change meaning ("==" is not "!="); a rule of "=====" is not.
_WORD = re.compile(r"\w+|(?<![=<>!+\-*/%])(?:[=<>!+\-*/%]=|\*\*|//)(?![=<>!+\-*/%])")
_DIGITS = re.compile(r"\d+")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LINE_NOISE = re.compile(r"[\W_]+")


@dataclass(frozen=True, slots=True)
class LoopSettings:
    max_period: int = 80  # longest repeated unit looked for, in words
    repeats: int = 3
    min_span: int = 12  # words a back-to-back repetition covers before it counts
    long_unit: int = 10  # a unit this long counts when seen twice in a row
    long_code_unit: int = 20  # in code (examples print the same value twice)
    min_line_chars: int = 12
    min_code_line_chars: int = 20  # code repeats short lines ("return x") legitimately
    line_repeats: int = 3
    code_line_repeats: int = 4
    phrase_words: int = 10
    phrase_repeats: int = 3


class LoopGuard:
    """``guard.feed(delta)`` for each streamed piece; True (and ``reason``) once looping.

    ``kept`` is the text before the repetition began: what was said once.
    """

    def __init__(self, settings: LoopSettings | None = None) -> None:
        self.settings = settings or LoopSettings()
        self.reason: str | None = None
        self._buffer = ""
        self._pending = ""  # text after the last complete word or line
        self._words: list[str] = []
        self._starts: list[int] = []  # where each word starts in the text
        self._line_start = 0
        self._in_code = False
        self._lines: Counter[str] = Counter()
        self._first_line: dict[str, int] = {}
        self._phrases: Counter[tuple[str, ...]] = Counter()
        self._first_phrase: dict[tuple[str, ...], int] = {}
        self._prose: list[int] = []  # indexes of words outside code fences
        self._loop_start: int | None = None

    @property
    def looping(self) -> bool:
        return self.reason is not None

    @property
    def text(self) -> str:
        return self._buffer

    @property
    def kept(self) -> str:
        """The text up to where the loop began (all of it when there is no loop)."""
        text = self.text
        return text if self._loop_start is None else text[: self._loop_start].rstrip()

    def feed(self, delta: str) -> bool:
        """Add streamed text; True once the answer is looping (and from then on)."""
        if self.reason is not None or not delta:
            return self.reason is not None
        offset = len(self._buffer) - len(self._pending)
        self._buffer += delta
        chunk = self._pending + delta
        # Whole lines first (repeated lines, code fences), then whole words.
        position = 0
        while (newline := chunk.find("\n", position)) != -1:
            self._words_in(chunk[position:newline], offset + position, final=True)
            if self.reason is None:
                self._line_done(offset + newline)
            position = newline + 1
            self._line_start = offset + position
            if self.reason is not None:
                return True
        rest = chunk[position:]
        consumed = self._words_in(rest, offset + position, final=False)
        self._pending = rest[consumed:]
        return self.reason is not None

    def finish(self) -> bool:
        """The stream ended: judge the last, unterminated line too."""
        if self.reason is None and self._pending:
            offset = len(self._buffer) - len(self._pending)
            self._words_in(self._pending, offset, final=True)
            if self.reason is None:
                self._line_done(len(self._buffer))
            self._pending = ""
        return self.reason is not None

    # --- words ---------------------------------------------------------------------

    def _words_in(self, text: str, offset: int, *, final: bool) -> int:
        """Take the complete words of ``text``; returns how much of it was consumed."""
        consumed = 0
        for match in _WORD.finditer(text):
            if not final and match.end() == len(text):
                break  # the word may go on in the next delta
            word = match.group().lower()
            if not self._in_code:
                word = _DIGITS.sub("#", word)
                if word == "#" and self._words and self._words[-1] == "#":
                    consumed = match.end()  # "(0,1), (0,2)": a run of numbers is one symbol
                    continue
            self._word(word, offset + match.start())
            consumed = match.end()
            if self.reason is not None:
                break
        return len(text) if final else consumed

    def _word(self, word: str, start: int) -> None:
        self._words.append(word)
        self._starts.append(start)
        if not self._in_code:
            self._prose.append(len(self._words) - 1)
            self._phrase()
        if self.reason is None:
            self._back_to_back()

    def _back_to_back(self) -> None:
        s = self.settings
        words = self._words
        n = len(words)
        for period in range(1, min(s.max_period, n // 2) + 1):
            unit = words[n - period :]
            count = 1
            while (start := n - (count + 1) * period) >= 0 and words[
                start : start + period
            ] == unit:
                count += 1
            long_enough = count >= s.repeats and count * period >= s.min_span
            long_unit = s.long_code_unit if self._in_code else s.long_unit
            if long_enough or (period >= long_unit and count >= 2):
                first_repeat = n - (count - 1) * period
                self._loop(f"repeated-phrase({period}w x{count})", self._starts[first_repeat])
                return

    def _phrase(self) -> None:
        s = self.settings
        if len(self._prose) < s.phrase_words:
            return
        indexes = self._prose[-s.phrase_words :]
        if indexes[-1] - indexes[0] != s.phrase_words - 1:
            return  # the phrase spans a code block
        phrase = tuple(self._words[i] for i in indexes)
        self._phrases[phrase] += 1
        start = self._starts[indexes[0]]
        if self._phrases[phrase] == 2:
            self._first_phrase[phrase] = start
        if self._phrases[phrase] >= s.phrase_repeats:
            self._loop(f"phrase-again(x{self._phrases[phrase]})", self._first_phrase[phrase])

    # --- lines ---------------------------------------------------------------------

    def _line_done(self, end: int) -> None:
        line = self._buffer[self._line_start : end]
        if _FENCE.match(line):
            self._in_code = not self._in_code
            return
        text = line.lower() if self._in_code else _DIGITS.sub("#", line.lower())
        key = _LINE_NOISE.sub(" ", text).strip()
        shortest = (
            self.settings.min_code_line_chars if self._in_code else self.settings.min_line_chars
        )
        if len(key) < shortest:
            return
        self._lines[key] += 1
        if self._lines[key] == 2:
            self._first_line[key] = self._line_start
        repeats = self.settings.code_line_repeats if self._in_code else self.settings.line_repeats
        if self._lines[key] >= repeats:
            self._loop(f"repeated-line(x{self._lines[key]})", self._first_line[key])

    def _loop(self, reason: str, start: int) -> None:
        self.reason = reason
        self._loop_start = start


def detect_loop(text: str, settings: LoopSettings | None = None) -> str | None:
    """Why a finished ``text`` loops (a short tag), or None when it does not."""
    guard = LoopGuard(settings)
    guard.feed(text)
    guard.finish()
    return guard.reason
