"""Content hashes of course files, so an answer retires when a file it cites changes."""

from __future__ import annotations

import hashlib
from pathlib import Path


class SourceHashes:
    """sha256 of files under the course folder, re-read only when size or mtime change.

    ``hash("lessons/02.md")`` is ``""`` for a file that is missing or outside the folder
    (an answer citing it retires when one appears, or the one it had disappears).
    """

    def __init__(self, root: Path | None) -> None:
        self.root = root.resolve() if root is not None else None
        self._cache: dict[str, tuple[int, int, str]] = {}

    def hash(self, source: str) -> str:
        if self.root is None or not source:
            return ""
        path = (self.root / source).resolve()
        if not path.is_relative_to(self.root):
            return ""
        try:
            stat = path.stat()
        except OSError:
            return ""
        cached = self._cache.get(source)
        if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
            return cached[2]
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return ""
        self._cache[source] = (stat.st_mtime_ns, stat.st_size, digest)
        return digest

    def changed(self, sources: dict[str, str]) -> str | None:
        """The first source whose content is not what it was, or None."""
        return next((s for s, h in sources.items() if self.hash(s) != h), None)
