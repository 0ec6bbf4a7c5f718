"""Markdown with optional YAML front matter (python-frontmatter + markdown-it-py).

Top-level blocks are sliced from the source lines markdown-it maps them to, so lists,
tables and inline code keep their Markdown; fenced code keeps its fences.
"""

from __future__ import annotations

from typing import Any

import frontmatter
import yaml
from markdown_it import MarkdownIt

from knowledge.document import Block, Document, ParseError
from knowledge.parsers import decode_text


def parse(data: bytes) -> Document:
    source = decode_text(data).replace("\r\n", "\n")
    try:
        raw_meta, body = frontmatter.parse(source)
    except yaml.YAMLError as exc:
        raise ParseError(f"invalid YAML front matter: {_first_line(exc)}") from None
    metadata: dict[str, Any] = dict(raw_meta) if isinstance(raw_meta, dict) else {}
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


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
