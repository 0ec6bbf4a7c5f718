"""One well-kept parser per format, chosen by file extension.

Each parser module exposes ``parse(data: bytes) -> Document`` and raises ParseError with
a reason fit for the ingest report.
"""

from __future__ import annotations

from collections.abc import Callable

from knowledge.document import Document, ParseError

Parser = Callable[[bytes], Document]


def _markdown(data: bytes) -> Document:
    from knowledge.parsers import markdown

    return markdown.parse(data)


def _rst(data: bytes) -> Document:
    from knowledge.parsers import rst

    return rst.parse(data)


def _text(data: bytes) -> Document:
    from knowledge.parsers import text

    return text.parse(data)


def _html(data: bytes) -> Document:
    from knowledge.parsers import html

    return html.parse(data)


def _pdf(data: bytes) -> Document:
    from knowledge.parsers import pdf

    return pdf.parse(data)


PARSERS: dict[str, Parser] = {
    ".md": _markdown,
    ".markdown": _markdown,
    ".rst": _rst,
    ".txt": _text,
    ".text": _text,
    ".html": _html,
    ".htm": _html,
    ".pdf": _pdf,
}


def parser_for(suffix: str) -> Parser | None:
    """The parser for a file extension (case-insensitive), or None when unsupported."""
    return PARSERS.get(suffix.lower())


def decode_text(data: bytes) -> str:
    """UTF-8 text (a BOM is allowed). Binary content or another encoding is a ParseError."""
    if b"\x00" in data[:8192]:
        raise ParseError("binary content (NUL bytes), not a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r}); "
            "if it is text, convert it to UTF-8"
        ) from None
