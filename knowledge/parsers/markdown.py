"""Markdown with optional YAML front matter (python-frontmatter + markdown-it-py).

Top-level blocks are sliced from the source lines markdown-it maps them to, so lists,
tables and inline code keep their Markdown; fenced code keeps its fences.
"""

from __future__ import annotations

import datetime
from typing import Any

import frontmatter
import yaml
from markdown_it import MarkdownIt

from knowledge.document import Block, Document, ParseError
from knowledge.parsers import decode_text


def parse(data: bytes) -> Document:
    source = decode_text(data).replace("\r\n", "\n")
    try:
        raw_meta, body = frontmatter.parse(source, handler=_BoundedYAML())
    except yaml.YAMLError as exc:
        raise ParseError(f"invalid YAML front matter: {_first_line(exc)}") from None
    metadata = {str(k): v for k, v in raw_meta.items() if isinstance(v, _SCALARS)}
    lines = body.split("\n")
    blocks: list[Block] = []
    title: str | None = None
    tokens = MarkdownIt("commonmark").enable("table").parse(body)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.level != 0 or token.map is None:
            i += 1
            continue
        start, end = token.map
        if token.type == "heading_open":
            text = tokens[i + 1].content.strip()
            level = int(token.tag[1])
            if level == 1 and title is None:
                title = text
            blocks.append(Block("heading", text, level))
        elif token.type in {"fence", "code_block"}:
            blocks.append(Block("code", "\n".join(lines[start:end]).strip("\n")))
        elif token.type != "hr":
            text = "\n".join(lines[start:end]).strip()
            if text:
                blocks.append(Block("text", text))
        i += 1
    return Document(blocks, title=title, metadata=metadata)


MAX_FRONT_MATTER = 64 * 1024  # characters; a lesson's front matter is a few lines
_SCALARS = (str, int, float, bool, datetime.date)


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without aliases: a few hundred bytes of ``*ref`` can expand to gigabytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in front matter", mark
            )
        return super().compose_node(parent, index)


class _BoundedYAML(frontmatter.YAMLHandler):
    """Front matter that is small, alias-free, and a mapping (scalars are kept)."""

    def load(self, fm: str, **kwargs: object) -> Any:
        if len(fm) > MAX_FRONT_MATTER:
            raise ParseError(f"front matter is too large (over {MAX_FRONT_MATTER} characters)")
        data = yaml.load(fm, Loader=_NoAliasLoader)  # a SafeLoader subclass
        return data if isinstance(data, dict) else {}


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
