"""Reading the project's JSON-lines files: labelled examples, suites, question pairs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def read_jsonl(path: Path, build: Callable[[int, Any], T], what: str) -> list[T]:
    """``build(line_number, row)`` for every non-blank line of ``path``, in order.

    A line that is not JSON, or whose row ``build`` rejects (ValueError, KeyError,
    TypeError), raises ValueError: ``"<path>:<line>: bad <what> (<why>)"``.
    """
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(build(number, json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: bad {what} ({exc})") from None
    return items
