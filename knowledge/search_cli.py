"""Output of ``tutor search``: text, ``--json``, and ``--jsonl FILE`` (one result per line).

A malformed ``--jsonl`` line gets an object with an ``error`` (and no results) in its place,
so the output always has one line per input line; the exit status stays 0.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from bot.ports import Passage, Retriever


def results_json(query: str | None, passages: Sequence[Passage]) -> dict[str, Any]:
    """``{"query", "results": [{source, title, score}, ...]}``, as the CLI contract gives it."""
    return {
        "query": query,
        "results": [{"source": p.source, "title": p.title, "score": p.score} for p in passages],
    }


async def print_results(
    retriever: Retriever, text: str, k: int | None, out: TextIO, *, as_json: bool
) -> int:
    passages = await retriever.search(text, k) if k else await retriever.search(text)
    if as_json:
        print(json.dumps(results_json(text, passages), ensure_ascii=False), file=out)
        return 0
    if not passages:
        print("Nothing relevant found in the course.", file=out)
    for i, p in enumerate(passages, 1):
        snippet = " ".join(p.text.split())
        snippet = snippet if len(snippet) <= 160 else snippet[:157] + "..."
        print(f"{i}. {p.score:.3f}  {p.title}  ({p.source})\n   {snippet}", file=out)
    return 0


async def print_jsonl_results(retriever: Retriever, path: str, k: int | None, out: TextIO) -> int:
    try:
        read = sys.stdin.buffer.read if path == "-" else Path(path).read_bytes
        data = await asyncio.to_thread(read)
    except OSError as exc:
        print(f"tutor search: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    lines = data.split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()  # the newline ending the last line
    for number, raw in enumerate(lines, 1):
        query, error = _query_of(raw, number)
        if error is not None:
            row = results_json(query, []) | {"error": error}
        else:
            assert query is not None
            passages = await retriever.search(query, k) if k else await retriever.search(query)
            row = results_json(query, passages)
        print(json.dumps(row, ensure_ascii=False), file=out, flush=True)
    return 0


def _query_of(raw: bytes, number: int) -> tuple[str | None, str | None]:
    """The line's ``text``, or why the line is not a query."""
    try:
        line = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None, f"line {number}: not UTF-8"
    if not line:
        return None, f"line {number}: empty line"
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"line {number}: not JSON ({exc.msg})"
    text = obj.get("text") if isinstance(obj, dict) else None
    if not isinstance(text, str):
        return None, f'line {number}: expected an object with a "text" string'
    if not text.strip():
        return text, f"line {number}: empty text"
    return text, None
