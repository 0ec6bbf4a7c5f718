"""reStructuredText through docutils' own parser.

File inclusion and raw passthrough are disabled: a course file must not pull in other
files from the machine that ingests it. Docinfo fields (``:lesson: 3``) become metadata.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.core import publish_doctree
from docutils.utils import SystemMessage

from knowledge.document import Block, Document, ParseError
from knowledge.parsers import decode_text

_SETTINGS = {
    "report_level": 5,  # no warnings on stderr
    "halt_level": 5,  # never raise on markup problems: keep what parsed
    "file_insertion_enabled": False,
    "raw_enabled": False,
    "input_encoding": "unicode",
    "doctitle_xform": True,
    "docinfo_xform": True,
}
_CODE = (nodes.literal_block, nodes.doctest_block)
_LEAF_TEXT = (nodes.paragraph, nodes.line_block, nodes.term, nodes.rubric, nodes.attribution)


def parse(data: bytes) -> Document:
    text = decode_text(data)
    try:
        tree = publish_doctree(text, settings_overrides=_SETTINGS)
    except (SystemMessage, ValueError, AttributeError) as exc:
        raise ParseError(f"reStructuredText error: {exc}") from None
    metadata: dict[str, Any] = {}
    blocks: list[Block] = []
    title = None
    for child in tree.children:
        if isinstance(child, nodes.title):
            title = child.astext().strip()
        elif isinstance(child, nodes.subtitle):
            blocks.append(Block("heading", child.astext().strip(), 2))
        elif isinstance(child, nodes.docinfo):
            metadata.update(_docinfo(child))
        else:
            _walk(child, 1, blocks)
    return Document(blocks, title=title, metadata=metadata)


def _walk(node: nodes.Node, depth: int, out: list[Block]) -> None:
    if isinstance(node, nodes.section):
        for child in node.children:
            if isinstance(child, nodes.title):
                out.append(Block("heading", child.astext().strip(), min(depth + 1, 6)))
            else:
                _walk(child, depth + 1, out)
    elif isinstance(node, _CODE):
        out.append(Block("code", node.astext().rstrip()))
    elif isinstance(node, _LEAF_TEXT):
        if text := node.astext().strip():
            out.append(Block("text", text))
    elif isinstance(node, nodes.list_item):
        before = len(out)
        for child in node.children:
            _walk(child, depth, out)
        if len(out) > before and out[before].kind == "text":
            out[before] = Block("text", "- " + out[before].text)
    elif isinstance(node, nodes.system_message | nodes.comment | nodes.substitution_definition):
        return
    elif isinstance(node, nodes.Element):
        for child in node.children:
            _walk(child, depth, out)


def _docinfo(node: nodes.docinfo) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for item in node.children:
        if isinstance(item, nodes.field):
            name, body = item.children[0].astext(), item.children[1].astext()
        else:  # registered bibliographic fields (author, version, ...) are their own nodes
            name, body = item.tagname, item.astext()
        fields[name.strip().lower()] = body.strip()
    return fields
