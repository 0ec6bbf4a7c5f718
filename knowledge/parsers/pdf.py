"""PDF through pypdf: the text layer page by page, headings from the outline (bookmarks).

A PDF without a text layer (a scan) is a ParseError that says to OCR it first.
"""

from __future__ import annotations

import io
import re
from typing import Any

from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError

from knowledge.document import Block, Document, ParseError

_PARAGRAPHS = re.compile(r"\n\s*\n")


def parse(data: bytes) -> Document:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError("the PDF is encrypted with a password")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata or {}
        outline = _outline_by_page(reader)
    except ParseError:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ParseError(f"unreadable PDF: {exc}") from None
    if not any(text.strip() for text in pages):
        raise ParseError(
            f"no text layer in {len(pages)} page(s) (a scanned PDF?); run OCR on it first"
        )
    blocks: list[Block] = []
    for number, text in enumerate(pages):
        for level, heading in outline.get(number, []):
            blocks.append(Block("heading", heading, level))
        blocks.extend(
            Block("text", para.strip()) for para in _PARAGRAPHS.split(text) if para.strip()
        )
    metadata: dict[str, Any] = {}
    title = info.get("/Title")
    return Document(blocks, title=str(title).strip() if title else None, metadata=metadata)


def _outline_by_page(reader: PdfReader) -> dict[int, list[tuple[int, str]]]:
    """Outline entries grouped by the page they point at, as (level, title)."""
    found: dict[int, list[tuple[int, str]]] = {}

    def visit(items: list[Any], level: int) -> None:
        for item in items:
            if isinstance(item, list):
                visit(item, level + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
            except (PyPdfError, ValueError, KeyError, TypeError):
                continue
            if page is not None and page >= 0 and getattr(item, "title", None):
                found.setdefault(page, []).append((min(level, 6), str(item.title)))

    try:
        visit(reader.outline, 1)
    except (PyPdfError, ValueError, KeyError, TypeError):
        return {}
    return found
