"""The course index: a Chroma collection (vectors, text, metadata) plus its SQLite sidecar.

Chroma runs embedded (``PersistentClient`` under the data folder) or as a server
(``HttpClient``), as ``[knowledge] chroma`` says. The collection uses the cosine space,
set explicitly, and records which embedder built it: opening it with another embedder is
refused (EmbedderMismatch) unless the caller asks to rebuild.

All methods block: call them from a worker thread in async code.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from bot.config import Settings
from knowledge.chunking import Chunk, LessonInfo
from knowledge.store import CourseStore, FileRecord, StoredChunk

log = logging.getLogger(__name__)

FORMAT = 1  # bump when chunk metadata changes shape
_PAGE = 1000
_WRITE_BATCH = 1000
_DIGITS = re.compile(r"(\d+)")


class IndexMissing(Exception):
    """There is no course index yet."""


class EmbedderMismatch(Exception):
    """The index was built by another embedder than the configured one."""

    def __init__(self, collection: str, built_with: str, configured: str) -> None:
        super().__init__(
            f"the course index {collection!r} was built with {built_with}, but [knowledge] "
            f"now selects {configured}; vectors from different models cannot be mixed. "
            f"Rebuild it with `tutor ingest --reindex PATH`, or set the embedder back."
        )
        self.built_with = built_with
        self.configured = configured


@dataclass(frozen=True, slots=True)
class Hit:
    chunk_id: str
    text: str
    metadata: Mapping[str, Any]
    similarity: float  # cosine similarity to the query, -1..1


def chroma_path(settings: Settings) -> Path:
    configured = settings.knowledge.chroma_path
    if not configured:
        return settings.data_dir / "chroma"
    path = Path(configured).expanduser()
    return path if path.is_absolute() else settings.config_path.parent / path


def store_path(settings: Settings) -> Path:
    return settings.data_dir / "knowledge" / f"{settings.knowledge.collection}.sqlite3"


def chroma_client(settings: Settings) -> Any:
    """A Chroma client as configured, telemetry off."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    config = settings.knowledge
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if config.chroma == "http":
        return chromadb.HttpClient(
            host=config.chroma_host,
            port=config.chroma_port,
            ssl=config.chroma_ssl,
            settings=chroma_settings,
        )
    return chromadb.PersistentClient(path=str(chroma_path(settings)), settings=chroma_settings)


def index_exists(settings: Settings) -> bool:
    """Cheap check for a local index, without creating anything (http mode: assume yes)."""
    if settings.knowledge.chroma == "http":
        return True
    return (chroma_path(settings) / "chroma.sqlite3").exists()


class CourseIndex:
    """One course collection and its sidecar, kept in step by a shared stamp."""

    def __init__(self, client: Any, collection: Any, store: CourseStore) -> None:
        self._client = client
        self._collection = collection
        self.store = store
        self.name: str = collection.name

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls, settings: Settings, embedder_name: str, *, create: bool = False, rebuild: bool = False
    ) -> CourseIndex:
        """Open the configured index for ``embedder_name``.

        ``create`` makes a missing index; ``rebuild`` also drops one built by another
        embedder (or everything, to start over). Raises IndexMissing or EmbedderMismatch.
        """
        name = settings.knowledge.collection
        if not create and not index_exists(settings):
            raise IndexMissing(f"no course index at {chroma_path(settings)}")
        from chromadb.errors import NotFoundError

        client = chroma_client(settings)
        try:
            collection = client.get_collection(name, embedding_function=None)
        except NotFoundError:
            collection = None
        built_with = (collection.metadata or {}).get("embedder") if collection else None
        if collection is not None and (rebuild or built_with != embedder_name):
            if not rebuild:
                raise EmbedderMismatch(name, str(built_with), embedder_name)
            log.info("dropping course index %r (built with %s)", name, built_with)
            client.delete_collection(name)
            collection = None
        if collection is None:
            if not create:
                raise IndexMissing(f"no course index {name!r} in Chroma")
            collection = client.create_collection(
                name,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedder": embedder_name, "format": FORMAT, "stamp": "new"},
                embedding_function=None,
            )
        store = CourseStore(store_path(settings))
        index = cls(client, collection, store)
        index.reconcile()
        return index

    def close(self) -> None:
        self.store.close()

    @property
    def embedder_name(self) -> str:
        return str(self._meta().get("embedder", ""))

    def _meta(self) -> dict[str, Any]:
        return dict(self._collection.metadata or {})

    def _set_stamp(self, stamp: str) -> None:
        self._collection.modify(metadata=self._meta() | {"stamp": stamp})

    # --- consistency between Chroma and the sidecar --------------------------------------

    def begin_changes(self) -> None:
        """Mark the index as changing, so a crash midway makes the sidecar rebuild itself."""
        self._set_stamp(f"changing-{uuid.uuid4().hex}")

    def commit_changes(self) -> None:
        stamp = uuid.uuid4().hex
        self._set_stamp(stamp)
        self.store.set_meta("stamp", stamp)

    def reconcile(self) -> None:
        """Rebuild the sidecar from Chroma when their stamps differ."""
        stamp = str(self._meta().get("stamp", ""))
        if self.store.get_meta("stamp") == stamp:
            return
        log.info("rebuilding the keyword index from Chroma collection %r", self.name)
        self.store.clear()
        for record, chunks in self._files_in_chroma():
            self.store.replace_file(record, chunks)
        if stamp.startswith("changing-") or stamp == "new":
            self.commit_changes()
        else:
            self.store.set_meta("stamp", stamp)

    def _files_in_chroma(self) -> Iterator[tuple[FileRecord, list[StoredChunk]]]:
        by_file: dict[str, list[tuple[int, str, str, Mapping[str, Any]]]] = {}
        for offset in range(0, self._collection.count(), _PAGE):
            page = self._collection.get(
                limit=_PAGE, offset=offset, include=["documents", "metadatas"]
            )
            for chunk_id, text, meta in zip(
                page["ids"], page["documents"], page["metadatas"], strict=True
            ):
                by_file.setdefault(str(meta["file_id"]), []).append(
                    (int(meta["chunk"]), chunk_id, text or "", meta)
                )
        for file_id, rows in by_file.items():
            rows.sort(key=lambda row: row[0])
            meta = rows[0][3]
            record = FileRecord(file_id, str(meta["root"]), str(meta["fingerprint"]),
                                _lesson(meta), len(rows))  # fmt: skip
            yield record, [StoredChunk(cid, f"{m['title']}\n{text}") for _, cid, text, m in rows]

    # --- writing -------------------------------------------------------------------------

    def replace_file(
        self, record: FileRecord, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]
    ) -> None:
        """Swap one file's chunks in Chroma and the sidecar."""
        info = record.lesson
        ids = [f"{record.file_id}:{chunk.index}" for chunk in chunks]
        metadatas = [_chunk_meta(record, chunk) for chunk in chunks]
        self._collection.delete(where={"file_id": record.file_id})
        for start in range(0, len(ids), _WRITE_BATCH):
            end = start + _WRITE_BATCH
            self._collection.add(
                ids=ids[start:end],
                embeddings=[list(v) for v in vectors[start:end]],
                documents=[chunk.text for chunk in chunks[start:end]],
                metadatas=metadatas[start:end],
            )
        stored = [
            StoredChunk(cid, chunk.embedding_text(info))
            for cid, chunk in zip(ids, chunks, strict=True)
        ]
        self.store.replace_file(record, stored)

    def remove_file(self, file_id: str) -> None:
        self._collection.delete(where={"file_id": file_id})
        self.store.remove_file(file_id)

    # --- reading -------------------------------------------------------------------------

    def count(self) -> int:
        return int(self._collection.count())

    def dense(self, vector: Sequence[float], n: int) -> list[Hit]:
        result = self._collection.query(
            query_embeddings=[list(vector)],
            n_results=n,
            include=["documents", "metadatas", "distances"],
        )
        return [
            Hit(chunk_id, text or "", meta or {}, 1.0 - float(distance))
            for chunk_id, text, meta, distance in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                result["distances"][0],
                strict=True,
            )
        ]

    def fetch(self, ids: Sequence[str], vector: Sequence[float]) -> list[Hit]:
        """Chunks by id, scored against ``vector`` (for keyword hits the dense search missed)."""
        if not ids:
            return []
        got = self._collection.get(ids=list(ids), include=["documents", "metadatas", "embeddings"])
        return [
            Hit(chunk_id, text or "", meta or {}, _cosine(vector, embedding))
            for chunk_id, text, meta, embedding in zip(
                got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True
            )
        ]

    def lessons(self) -> list[LessonInfo]:
        """Every indexed file's structure, in course order (lesson number, then path)."""
        infos = [record.lesson for record in self.store.files().values()]
        return sorted(infos, key=course_order)


def course_order(info: LessonInfo) -> tuple[Any, ...]:
    """Folders in natural order, then lesson number, then file name."""
    path = PurePosixPath(info.source)
    folders = tuple(_natural(part) for part in path.parent.parts)
    lesson = info.lesson if info.lesson is not None else 1_000_000
    return (folders, lesson, _natural(path.name))


def _natural(text: str) -> tuple[Any, ...]:
    """``"10-x"`` after ``"9-x"``: digit runs compare as numbers."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(text))


def _chunk_meta(record: FileRecord, chunk: Chunk) -> dict[str, Any]:
    info = record.lesson
    meta: dict[str, Any] = {
        "file_id": record.file_id,
        "root": record.root,
        "fingerprint": record.fingerprint,
        "source": info.source,
        "file_title": info.title,
        "summary": info.summary,
        "sections": json.dumps(info.sections),
        "chunk": chunk.index,
        "title": chunk.title(info),
        "heading": " > ".join(chunk.headings),
    }
    if info.lesson is not None:
        meta["lesson"] = info.lesson
    if info.module:
        meta["module"] = info.module
    return meta


def _lesson(meta: Mapping[str, Any]) -> LessonInfo:
    lesson = meta.get("lesson")
    return LessonInfo(
        source=str(meta["source"]),
        title=str(meta["file_title"]),
        lesson=int(lesson) if lesson is not None else None,
        module=str(meta["module"]) if meta.get("module") else None,
        summary=str(meta.get("summary", "")),
        sections=tuple(json.loads(str(meta.get("sections", "[]")))),
    )


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norm = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return float(va @ vb) / norm if norm else 0.0
