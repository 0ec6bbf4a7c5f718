"""Plain text: paragraphs separated by blank lines; indented paragraphs are code."""

from __future__ import annotations

import re

from knowledge.document import Block, Document
from knowledge.parsers import decode_text

_BLANK_LINES = re.compile(r"\n[ \t]*\n")


def parse(data: bytes) -> Document:
    text = decode_text(data).replace("\r\n", "\n")
    blocks: list[Block] = []
    for para in _BLANK_LINES.split(text):
        if not para.strip():
            continue
        lines = [line for line in para.split("\n") if line.strip()]
        if all(line.startswith(("    ", "\t")) for line in lines):
            blocks.append(Block("code", para.strip("\n")))
        else:
            blocks.append(Block("text", para.strip()))
    return Document(blocks)
