"""``tutor ingest``: walk course folders, chunk what changed, embed it, index it.

Incremental by content: a file whose bytes (and the chunking settings) are unchanged is
not read past its hash, so an unchanged course re-ingests without embedding anything.
Changed files are re-chunked and re-embedded; files gone from an ingested folder leave
the index. A file that cannot be read or parsed is reported with its path and the reason,
keeps its previously indexed version if it had one, and does not stop the others.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import stat
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from bot.config import Settings
from bot.ports import Embedder
from knowledge.chunking import CHUNKER_VERSION, Chunk, chunk_document, lesson_info
from knowledge.document import ParseError
from knowledge.index import CourseIndex
from knowledge.parsers import parser_for
from knowledge.progress import IngestProgress
from knowledge.store import FileRecord

log = logging.getLogger(__name__)

EMBED_BATCH = 64
OUTSIDE = "links outside the course folder"


@dataclass(frozen=True, slots=True)
class FileProblem:
    path: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    """What one ingest run did; ``seconds`` is wall time, ``embed_seconds`` the embedding part."""

    files: int = 0  # supported files found
    indexed: int = 0  # new or changed files (re)indexed
    unchanged: int = 0
    removed: int = 0  # files gone from the folder, removed from the index
    chunks: int = 0  # chunks embedded in this run
    total_chunks: int = 0  # chunks in the index afterwards
    unsupported: int = 0  # files of types no parser reads
    skipped: list[FileProblem] = field(default_factory=list)
    failed: list[FileProblem] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True, slots=True)
class _Found:
    path: Path
    root: Path
    source: str  # relative to root, forward slashes

    @property
    def file_id(self) -> str:
        return hashlib.sha1(f"{self.root}\0{self.source}".encode()).hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class _Skip:
    """Nothing to index in this file (empty, too large, not a file): not an error."""

    problem: FileProblem


@dataclass(frozen=True, slots=True)
class _Prepared:
    found: _Found
    record: FileRecord
    chunks: list[Chunk]


class Ingestor:
    """Ingests paths into an open CourseIndex with an Embedder."""

    def __init__(
        self,
        settings: Settings,
        index: CourseIndex,
        embedder: Embedder,
        *,
        progress: IngestProgress | None = None,
    ) -> None:
        self.settings = settings
        self.index = index
        self.embedder = embedder
        self.progress = progress or IngestProgress(enabled=False)
        config = settings.knowledge
        self.max_bytes = int(config.max_file_mb * 1024 * 1024)
        self.chunk_chars = config.chunk_chars
        self.signature = f"chunker-v{CHUNKER_VERSION}:{config.chunk_chars}"

    async def ingest(self, paths: Sequence[Path]) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport()
        found, roots = await asyncio.to_thread(self._discover, paths, report)
        report.files = len(found)
        known = await asyncio.to_thread(self.index.store.files)
        changed: list[_Prepared] = []
        stale: list[str] = []  # indexed files that now have nothing to index
        with self.progress:
            reading = self.progress.task("Reading", len(found))
            for item in found:
                outcome = await asyncio.to_thread(self._prepare, item, known)
                self.progress.advance(reading)
                if outcome is None:
                    report.unchanged += 1
                elif isinstance(outcome, _Prepared):
                    changed.append(outcome)
                elif isinstance(outcome, _Skip):
                    report.skipped.append(outcome.problem)
                    if item.file_id in known:
                        stale.append(item.file_id)
                else:
                    report.failed.append(outcome)
            present = {item.file_id for item in found}
            # A lesson is its path in the course: the same path found in another folder (a
            # moved course) replaces the old copy instead of being listed twice.
            paths = {item.source for item in found}
            gone = [
                file_id
                for file_id, record in known.items()
                if file_id not in present
                and (record.root in roots or record.lesson.source in paths)
            ]
            if changed or gone or stale:
                await asyncio.to_thread(self.index.begin_changes)
                try:
                    for file_id in [*gone, *stale]:
                        await asyncio.to_thread(self.index.remove_file, file_id)
                    report.removed = len(gone)
                    await self._embed_and_write(changed, report)
                finally:
                    await asyncio.to_thread(self.index.commit_changes)
        report.total_chunks = await asyncio.to_thread(self.index.store.count_chunks)
        report.seconds = time.perf_counter() - started
        for problem in report.failed:
            log.info("could not ingest %s: %s", problem.path, problem.reason)
        return report

    # --- finding files -------------------------------------------------------------------

    def _discover(
        self, paths: Sequence[Path], report: IngestReport
    ) -> tuple[list[_Found], set[str]]:
        found: dict[str, _Found] = {}
        roots: set[str] = set()  # folders walked whole: their missing files are deletions
        for raw in paths:
            path = Path(raw).expanduser().absolute()
            if path.is_dir():
                root = path.resolve()
                roots.add(str(root))
                for file in _walk(root):
                    if _outside(file, root):
                        report.skipped.append(FileProblem(str(file), OUTSIDE))
                    elif not file.is_dir():  # a link to a folder inside is walked already
                        self._consider(file, root, found, report)
            elif _outside(path, path.parent.resolve()):
                report.skipped.append(FileProblem(str(path), OUTSIDE))
            elif path.is_file():
                self._consider(path, path.parent.resolve(), found, report)
            else:
                report.failed.append(FileProblem(str(raw), "no such file or folder"))
        return list(found.values()), roots

    def _consider(
        self, path: Path, root: Path, found: dict[str, _Found], report: IngestReport
    ) -> None:
        if parser_for(path.suffix) is None:
            report.unsupported += 1
            return
        item = _Found(path, root, path.relative_to(root).as_posix())
        found.setdefault(item.file_id, item)

    # --- reading and chunking (worker thread) --------------------------------------------

    def _prepare(
        self, item: _Found, known: dict[str, FileRecord]
    ) -> _Prepared | _Skip | FileProblem | None:
        """The chunks of a new or changed file, None if unchanged, or why it can't be used."""
        where = str(item.path)
        real = item.path.resolve()
        if not real.is_relative_to(item.root):  # a link changed since the walk
            return _Skip(FileProblem(where, OUTSIDE))
        try:
            # No link is followed past this point and a FIFO cannot block the open.
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return _Skip(FileProblem(where, OUTSIDE))
            return FileProblem(where, f"cannot read: {exc.strerror or exc}")
        with os.fdopen(fd, "rb") as handle:
            return self._read(item, handle, known)

    def _read(
        self, item: _Found, handle: BinaryIO, known: dict[str, FileRecord]
    ) -> _Prepared | _Skip | FileProblem | None:
        where = str(item.path)
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return _Skip(FileProblem(where, "not a regular file"))
        if info.st_size == 0:
            return _Skip(FileProblem(where, "empty file"))
        if info.st_size > self.max_bytes:
            return _Skip(
                FileProblem(
                    where,
                    f"too large ({info.st_size / 2**20:.1f} MB; the limit is "
                    f"knowledge.max_file_mb = {self.settings.knowledge.max_file_mb:g})",
                )
            )
        try:
            data = handle.read(self.max_bytes + 1)
        except OSError as exc:
            return FileProblem(where, f"cannot read: {exc.strerror or exc}")
        fingerprint = f"{hashlib.sha256(data).hexdigest()}:{self.signature}"
        previous = known.get(item.file_id)
        if previous is not None and previous.fingerprint == fingerprint:
            return None
        parse = parser_for(item.path.suffix)
        assert parse is not None  # _consider kept only parseable types
        try:
            doc = parse(data)
        except ParseError as exc:
            return FileProblem(where, str(exc))
        except Exception as exc:  # a parser tripping on hostile input must not stop ingest
            log.debug("parser crashed on %s", where, exc_info=True)
            return FileProblem(where, f"cannot parse: {type(exc).__name__}: {exc}")
        chunks = chunk_document(doc, self.chunk_chars)
        if not chunks:
            return _Skip(FileProblem(where, "no text found"))
        lesson = lesson_info(doc, item.source)
        record = FileRecord(item.file_id, str(item.root), fingerprint, lesson, len(chunks))
        return _Prepared(item, record, chunks)

    # --- embedding and writing -----------------------------------------------------------

    async def _embed_and_write(self, changed: list[_Prepared], report: IngestReport) -> None:
        """Embed in batches across files; each file is written once all its vectors exist."""
        texts = [c.embedding_text(p.record.lesson) for p in changed for c in p.chunks]
        task = self.progress.task("Embedding", len(texts))
        warm = getattr(self.embedder, "warm", None)
        if warm is not None:
            await warm()  # a model load is not embedding throughput
        pending = deque(changed)  # files still waiting for their vectors, in order
        vectors: list[list[float]] = []
        started = time.perf_counter()
        try:
            for start in range(0, len(texts), EMBED_BATCH):
                batch = texts[start : start + EMBED_BATCH]
                vectors.extend(await self._embed(batch))
                self.progress.advance(task, len(batch))
                while pending and report.chunks + len(pending[0].chunks) <= len(vectors):
                    prepared = pending[0]
                    end = report.chunks + len(prepared.chunks)
                    await self._write(prepared, vectors[report.chunks : end])
                    report.indexed += 1
                    report.chunks = end
                    pending.popleft()
        except _Stop as stop:
            log.error("%s", stop.reason, exc_info=stop.__cause__)
            report.failed.extend(FileProblem(str(p.found.path), stop.reason) for p in pending)
        finally:
            report.embed_seconds = time.perf_counter() - started

    async def _embed(self, batch: list[str]) -> list[list[float]]:
        try:
            vectors = await self.embedder.embed(batch)
        except Exception as exc:  # any failure of the embedder ends this run, cleanly
            raise _Stop(f"embedding failed ({self.embedder.name}): {exc}") from exc
        if len(vectors) != len(batch):
            raise _Stop(f"the embedder returned {len(vectors)} vectors for {len(batch)} texts")
        return vectors

    async def _write(self, prepared: _Prepared, vectors: list[list[float]]) -> None:
        try:
            await asyncio.to_thread(
                self.index.replace_file, prepared.record, prepared.chunks, vectors
            )
        except Exception as exc:
            raise _Stop(f"indexing failed: {type(exc).__name__}: {exc}") from exc


class _Stop(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _walk(root: Path) -> list[Path]:
    """Files under ``root``, sorted, skipping hidden files and folders (``.git``, ...).

    Links to folders are listed (never followed) so that the caller can report them.
    """
    files: list[Path] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        links = [d for d in dirs if Path(folder, d).is_symlink()]
        visible = sorted([*links, *(n for n in names if not n.startswith("."))])
        files.extend(Path(folder, name) for name in visible)
    return files


def _outside(path: Path, root: Path) -> bool:
    """Whether ``path`` (following every link) resolves outside ``root``."""
    try:
        return not path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a link loop: nothing to read there
        return True
