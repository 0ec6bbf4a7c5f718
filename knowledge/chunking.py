"""Structure-aware chunking: sections follow headings, paragraphs and code stay whole.

A chunk never crosses a heading. Paragraphs are packed together up to ``max_chars``; a
paragraph longer than that is split at line, then sentence boundaries. A code block is
kept whole unless it is longer than ``CODE_LIMIT`` times ``max_chars`` (then it is split
at line boundaries, so a huge listing cannot swamp a prompt).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from knowledge.document import Block, Document

CHUNKER_VERSION = 1  # bump when chunking changes, so ingest re-chunks every file
CODE_LIMIT = 4
_LESSON_NUMBER = re.compile(
    r"^(?:lesson|lecture|chapter|unit|part|module)?[-_ ]?0*(\d{1,4})(?!\d)", re.I
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`(\"'])")
_WHITESPACE = re.compile(r"\s+")
# Ever finer places to split prose at: lines, then sentences, then words.
_SPLITS = (("\n", re.compile(r"\n")), (" ", _SENTENCE_END), (" ", _WHITESPACE))
_SUMMARY_CHARS = 300


@dataclass(frozen=True, slots=True)
class LessonInfo:
    """What the course structure knows about one file (from front matter or its path)."""

    source: str  # path relative to the ingested folder, with forward slashes
    title: str
    lesson: int | None = None
    module: str | None = None
    summary: str = ""
    sections: tuple[str, ...] = ()

    @property
    def display_title(self) -> str:
        if self.lesson is not None and not self.title.lower().startswith("lesson"):
            return f"Lesson {self.lesson}: {self.title}"
        return self.title


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    headings: tuple[str, ...]  # the heading path below the document title
    index: int

    def title(self, lesson: LessonInfo) -> str:
        return " > ".join((lesson.display_title, *self.headings))

    def embedding_text(self, lesson: LessonInfo) -> str:
        """What gets embedded: the title path gives short sections their context."""
        return f"{self.title(lesson)}\n{self.text}"


def lesson_info(doc: Document, source: str) -> LessonInfo:
    """File-level metadata: front matter first, then the document, then the path."""
    meta = {str(k).lower(): v for k, v in doc.metadata.items()}
    path = PurePosixPath(source)
    title = _text(meta.get("title")) or doc.title or _humanize(path.stem)
    lesson = _int(meta.get("lesson"))
    if lesson is None:
        lesson = next(
            (n for part in (path.stem, *reversed(path.parent.parts)) if (n := _number(part))),
            None,
        )
    module = _text(meta.get("module")) or _text(meta.get("unit")) or _text(meta.get("chapter"))
    if not module and len(path.parts) > 1:
        module = path.parts[0]
    module = module or None
    summary = _text(meta.get("summary")) or _text(meta.get("description"))
    if not summary:
        summary = next((b.text for b in doc.blocks if b.kind == "text"), "")
    if len(summary) > _SUMMARY_CHARS:
        summary = summary[:_SUMMARY_CHARS].rsplit(" ", 1)[0] + " ..."
    sections = tuple(b.text for b in doc.blocks if b.kind == "heading" and not _is_title(b, title))
    return LessonInfo(source, title, lesson, module, summary, sections)


def chunk_document(doc: Document, max_chars: int) -> list[Chunk]:
    """Split a parsed document into chunks that follow its structure."""
    chunks: list[Chunk] = []
    path: list[tuple[int, str]] = []
    parts: list[str] = []
    size = 0
    title = doc.title or ""

    def flush() -> None:
        nonlocal size
        if parts:
            headings = tuple(text for _, text in path)
            chunks.append(Chunk("\n\n".join(parts), headings, len(chunks)))
            parts.clear()
            size = 0

    for block in doc.blocks:
        if block.kind == "heading":
            flush()
            if _is_title(block, title):
                continue
            while path and path[-1][0] >= block.level:
                path.pop()
            path.append((block.level, block.text))
            continue
        for piece in _pieces(block, max_chars):
            if parts and size + len(piece) + 2 > max_chars:
                flush()
            parts.append(piece)
            size += len(piece) + 2
    flush()
    return chunks


def _pieces(block: Block, max_chars: int) -> Iterator[str]:
    if block.kind == "code":
        if len(block.text) <= max_chars * CODE_LIMIT:
            yield block.text
        else:
            yield from _pack(block.text.split("\n"), max_chars * CODE_LIMIT, "\n")
        return
    for piece in _split_text(block.text, max_chars):
        if piece.strip():
            yield piece.strip()


def _split_text(text: str, max_chars: int) -> Iterator[str]:
    if len(text) <= max_chars:
        yield text
        return
    for separator, pattern in _SPLITS:
        pieces = pattern.split(text)
        if len(pieces) > 1:
            for packed in _pack(pieces, max_chars, separator):
                yield from _split_text(packed, max_chars)
            return
    for start in range(0, len(text), max_chars):  # one unbroken run: cut it
        yield text[start : start + max_chars]


def _pack(pieces: list[str], max_chars: int, separator: str) -> Iterator[str]:
    """Greedily join pieces up to max_chars (a single longer piece passes as it is)."""
    current: list[str] = []
    size = 0
    for piece in pieces:
        if current and size + len(piece) + len(separator) > max_chars:
            yield separator.join(current)
            current, size = [], 0
        current.append(piece)
        size += len(piece) + len(separator)
    if current:
        yield separator.join(current)


def _is_title(block: Block, title: str) -> bool:
    return block.kind == "heading" and block.level == 1 and block.text.strip() == title.strip()


def _number(part: str) -> int | None:
    match = _LESSON_NUMBER.match(part)
    return int(match.group(1)) if match else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str:
    if value is None or isinstance(value, Mapping | list):
        return ""
    return str(value).strip()


def _humanize(stem: str) -> str:
    words = re.sub(r"^[\d\s._-]+", "", stem).replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:] if words else stem
