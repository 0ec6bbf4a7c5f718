"""HTML through BeautifulSoup: headings, paragraphs, list items and ``<pre>`` code.

Scripts, styles and page chrome (nav, header, footer, aside) are dropped. ``<title>`` and
``<meta name=... content=...>`` become the title and metadata.
"""

from __future__ import annotations

import re
from typing import Any

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import Comment, Doctype, ProcessingInstruction

from knowledge.document import Block, Document
from knowledge.parsers import decode_text

_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_DROP = {"script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form"}
_BLOCKS = {
    "p", "div", "section", "article", "main", "body", "ul", "ol", "li", "dl", "dt", "dd",
    "blockquote", "table", "thead", "tbody", "tr", "td", "th", "figure", "figcaption",
    "details", "summary", "hr", "br", "caption",
}  # fmt: skip
_SPACES = re.compile(r"\s+")


def parse(data: bytes) -> Document:
    soup = BeautifulSoup(decode_text(data), "html.parser")
    metadata: dict[str, Any] = {}
    for meta in soup.find_all("meta"):
        name, content = meta.get("name"), meta.get("content")
        if isinstance(name, str) and isinstance(content, str):
            metadata[name.strip().lower()] = content.strip()
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else None
    for tag in soup.find_all(_DROP | {"head"}):
        tag.decompose()
    walker = _Walker()
    walker.walk(soup)
    walker.flush()
    if not title:
        title = next((b.text for b in walker.blocks if b.kind == "heading" and b.level == 1), None)
    return Document(walker.blocks, title=title or None, metadata=metadata)


class _Walker:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._inline: list[str] = []
        self._prefix = ""

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, Comment | Doctype | ProcessingInstruction):
                continue
            if isinstance(child, NavigableString):
                self._inline.append(str(child))
            elif isinstance(child, Tag):
                self._element(child)

    def _element(self, tag: Tag) -> None:
        name = tag.name.lower()
        if name in _HEADINGS:
            self.flush()
            if text := _SPACES.sub(" ", tag.get_text(" ")).strip():
                self.blocks.append(Block("heading", text, _HEADINGS[name]))
        elif name == "pre":
            self.flush()
            if code := tag.get_text().strip("\n"):
                self.blocks.append(Block("code", code))
        elif name in _BLOCKS:
            self.flush()
            self._prefix = "- " if name == "li" else ""
            self.walk(tag)
            self.flush()
        else:
            self.walk(tag)

    def flush(self) -> None:
        text = _SPACES.sub(" ", "".join(self._inline)).strip()
        self._inline.clear()
        if text:
            self.blocks.append(Block("text", self._prefix + text))
        self._prefix = ""
