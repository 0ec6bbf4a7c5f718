"""The SQLite file beside the Chroma index: the ingest manifest, keyword search, the outline.

Chroma's local mode has no sparse index, so keyword (BM25) search runs here, on SQLite's
FTS5. Everything in this file can be rebuilt from the chunks stored in Chroma (see
``knowledge.index``), so it is a cache: a ``stamp`` shared with the Chroma collection says
whether the two agree.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from knowledge.chunking import LessonInfo

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    file_id TEXT PRIMARY KEY,
    root TEXT NOT NULL,
    source TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    title TEXT NOT NULL,
    lesson INTEGER,
    module TEXT,
    summary TEXT NOT NULL,
    sections TEXT NOT NULL,
    chunks INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS files_root ON files (root);
CREATE TABLE IF NOT EXISTS chunk_rows (
    rowid INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    file_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunk_rows_file ON chunk_rows (file_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_text USING fts5(
    body, tokenize = "porter unicode61 tokenchars '_'"
);
"""

# Words that carry no meaning in a learner's question. Python keywords (for, in, if, not,
# and, or, is, with, as, from, import, return ...) are deliberately NOT here.
STOPWORDS = frozenset(
    """a about an any are be been but by can could did do does doing explain get give
    happens has have help how i i'm im it it's its me mean means my of on please should so
    tell than that the their them then there these this those to use used using vs want was
    what what's whats when where which who why will would you your""".split()  # noqa: SIM905
)
MAX_QUERY_TERMS = 24
COMMON_SHARE = 0.05
COMMON_MIN = 1000
_TERM = re.compile(r"\w+")


def query_terms(text: str) -> list[str]:
    """Distinct meaningful lowercase terms of a question, in order (at most MAX_QUERY_TERMS)."""
    seen: dict[str, None] = {}
    for term in _TERM.findall(text.lower()):
        if term not in STOPWORDS and term not in seen:
            seen[term] = None
    return list(seen)[:MAX_QUERY_TERMS]


@dataclass(frozen=True, slots=True)
class FileRecord:
    file_id: str
    root: str
    fingerprint: str
    lesson: LessonInfo
    chunks: int


@dataclass(frozen=True, slots=True)
class StoredChunk:
    chunk_id: str
    body: str  # what keyword search sees: title path and text


class CourseStore:
    """Thread-safe access to the sidecar database (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- meta ----------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # --- files ---------------------------------------------------------------------------

    def files(self, root: str | None = None) -> dict[str, FileRecord]:
        """Indexed files by file_id, optionally only those ingested from ``root``."""
        sql = "SELECT file_id, root, source, fingerprint, title, lesson, module, summary, "
        sql += "sections, chunks FROM files"
        args: tuple[str, ...] = ()
        if root is not None:
            sql, args = sql + " WHERE root = ?", (root,)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return {row[0]: _record(row) for row in rows}

    def replace_file(self, record: FileRecord, chunks: Sequence[StoredChunk]) -> None:
        """Swap one file's manifest row and keyword rows, atomically."""
        info = record.lesson
        with self._lock, _transaction(self._db):
            self._delete(record.file_id)
            self._db.execute(
                "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.file_id,
                    record.root,
                    info.source,
                    record.fingerprint,
                    info.title,
                    info.lesson,
                    info.module,
                    info.summary,
                    json.dumps(info.sections),
                    record.chunks,
                ),
            )
            for chunk in chunks:
                cursor = self._db.execute(
                    "INSERT INTO chunk_rows (chunk_id, file_id) VALUES (?, ?)",
                    (chunk.chunk_id, record.file_id),
                )
                self._db.execute(
                    "INSERT INTO chunk_text (rowid, body) VALUES (?, ?)",
                    (cursor.lastrowid, chunk.body),
                )

    def remove_file(self, file_id: str) -> None:
        with self._lock, _transaction(self._db):
            self._delete(file_id)

    def clear(self) -> None:
        with self._lock, _transaction(self._db):
            for table in ("files", "chunk_rows", "chunk_text", "meta"):
                self._db.execute(f"DELETE FROM {table}")

    def _delete(self, file_id: str) -> None:
        self._db.execute(
            "DELETE FROM chunk_text WHERE rowid IN "
            "(SELECT rowid FROM chunk_rows WHERE file_id = ?)",
            (file_id,),
        )
        self._db.execute("DELETE FROM chunk_rows WHERE file_id = ?", (file_id,))
        self._db.execute("DELETE FROM files WHERE file_id = ?", (file_id,))

    # --- keyword search ------------------------------------------------------------------

    def keyword_search(self, terms: Sequence[str], limit: int) -> list[tuple[str, str]]:
        """The ``limit`` best chunks for ``terms`` by BM25 (FTS5's ``bm25()``), best first,
        as ``(chunk_id, source)``.

        In a large index, terms that occur in a big share of it (COMMON_SHARE, and more
        than COMMON_MIN chunks) are left out of the candidate search: they barely move
        BM25 but dominate its cost.
        """
        if not terms:
            return []
        with self._lock:
            total = self._db.execute("SELECT count(*) FROM chunk_rows").fetchone()[0]
            common = max(COMMON_SHARE * total, COMMON_MIN)
            if total > common:
                counts = {
                    term: self._db.execute(
                        "SELECT count(*) FROM chunk_text WHERE chunk_text MATCH ?",
                        (_quote(term),),
                    ).fetchone()[0]
                    for term in terms
                }
                selective = [t for t in terms if 0 < counts[t] <= common]
                if not selective:
                    present = [t for t in terms if counts[t]]
                    selective = sorted(present, key=counts.__getitem__)[:1]
            else:
                selective = list(terms)
            if not selective:
                return []
            rows = self._db.execute(
                "SELECT r.chunk_id, f.source FROM chunk_text "
                "JOIN chunk_rows r ON r.rowid = chunk_text.rowid "
                "JOIN files f ON f.file_id = r.file_id "
                "WHERE chunk_text MATCH ? ORDER BY bm25(chunk_text) LIMIT ?",
                (" OR ".join(_quote(t) for t in selective), limit),
            ).fetchall()
        return [(chunk_id, source) for chunk_id, source in rows]

    def lesson_texts(self) -> list[tuple[str, str]]:
        """Each indexed source with the text of all its chunks (title paths included), for
        ranking whole lessons (``knowledge.lexical``)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT f.source, group_concat(c.body, char(10)) FROM chunk_rows r "
                "JOIN chunk_text c ON c.rowid = r.rowid "
                "JOIN files f ON f.file_id = r.file_id "
                "GROUP BY f.source ORDER BY f.source"
            ).fetchall()
        return [(source, text or "") for source, text in rows]

    def best_chunk(self, source: str, terms: Sequence[str]) -> str | None:
        """The chunk of ``source`` that best matches ``terms`` by BM25 (its first chunk when
        none matches), or None when the source is not indexed."""
        with self._lock:
            first, last = self._db.execute(
                "SELECT min(r.rowid), max(r.rowid) FROM chunk_rows r "
                "JOIN files f ON f.file_id = r.file_id WHERE f.source = ?",
                (source,),
            ).fetchone()
            if first is None:
                return None
            row = None
            if terms:  # a file's chunks are written together: one rowid range
                row = self._db.execute(
                    "SELECT r.chunk_id FROM chunk_text "
                    "JOIN chunk_rows r ON r.rowid = chunk_text.rowid "
                    "JOIN files f ON f.file_id = r.file_id "
                    "WHERE chunk_text MATCH ? AND chunk_text.rowid BETWEEN ? AND ? "
                    "AND f.source = ? ORDER BY bm25(chunk_text) LIMIT 1",
                    (" OR ".join(_quote(t) for t in terms), first, last, source),
                ).fetchone()
            if row is None:
                row = self._db.execute(
                    "SELECT chunk_id FROM chunk_rows WHERE rowid = ?", (first,)
                ).fetchone()
        return row[0] if row else None

    def count_chunks(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM chunk_rows").fetchone()[0]


def _record(row: tuple) -> FileRecord:  # type: ignore[type-arg]
    file_id, root, source, fingerprint, title, lesson, module, summary, sections, chunks = row
    info = LessonInfo(source, title, lesson, module, summary, tuple(json.loads(sections)))
    return FileRecord(file_id, root, fingerprint, info, chunks)


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
