"""What a parser produces: a document as a flat run of headings, prose and code blocks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

BlockKind = Literal["heading", "text", "code"]


@dataclass(frozen=True, slots=True)
class Block:
    """One structural piece of a document. ``level`` is 1-6 for headings, 0 otherwise."""

    kind: BlockKind
    text: str
    level: int = 0


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed file. ``metadata`` holds front matter / docinfo / meta tags as given."""

    blocks: list[Block]
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class ParseError(Exception):
    """The file cannot be turned into text; the message says why, for the ingest report."""
