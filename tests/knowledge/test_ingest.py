"""Ingest: incremental by content, deletions, bad input, and the sidecar's self-repair."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

from knowledge.index import CourseIndex, store_path
from knowledge.report import describe
from knowledge.service import CourseKnowledge
from tests.knowledge.conftest import DATA, knowledge_settings


async def ingest(settings, embedder, *paths):
    knowledge = CourseKnowledge(settings, embedder=embedder)
    try:
        return await knowledge.ingest(list(paths)), knowledge.index.store.files()
    finally:
        await knowledge.aclose()


def sources(files):
    return sorted(record.lesson.source for record in files.values())


async def test_reingest_of_an_unchanged_course_embeds_nothing(tmp_path, embedder, course_copy):
    settings = knowledge_settings(tmp_path)
    first, files = await ingest(settings, embedder, course_copy)
    assert (first.files, first.indexed, first.unchanged) == (3, 3, 0)
    assert first.chunks == len(embedder.texts) == first.total_chunks > 3
    assert sources(files) == ["04-lists.md", "05-loops.md", "06-functions.md"]

    embedder.texts.clear()
    again, files_again = await ingest(settings, embedder, course_copy)
    assert (again.indexed, again.unchanged, again.chunks, again.removed) == (0, 3, 0, 0)
    assert embedder.texts == []  # no embedding work at all
    assert again.total_chunks == first.total_chunks
    assert files_again == files


async def test_changed_files_are_reindexed_and_deleted_files_removed(
    tmp_path, embedder, course_copy
):
    settings = knowledge_settings(tmp_path)
    await ingest(settings, embedder, course_copy)
    loops = course_copy / "05-loops.md"
    loops.write_text(
        loops.read_text(encoding="utf-8") + "\n## Nested loops\n\nA zebra-crossing loop.\n",
        encoding="utf-8",
    )
    (course_copy / "06-functions.md").unlink()
    embedder.texts.clear()

    report, files = await ingest(settings, embedder, course_copy)
    assert (report.indexed, report.unchanged, report.removed) == (1, 1, 1)
    assert all(text.startswith("Lesson 5: Loops") for text in embedder.texts)  # only that file
    assert sources(files) == ["04-lists.md", "05-loops.md"]

    knowledge = CourseKnowledge(settings, embedder=embedder)
    retriever = await knowledge.open()
    assert retriever is not None
    hits = await retriever.search("zebra-crossing loop", k=2)
    assert hits[0].source == "05-loops.md" and "zebra" in hits[0].text
    stored = knowledge.index.store.keyword_search(["functions", "def"], 50)
    assert not [c for c, _ in stored if c.startswith(_file_id(files, "06-functions.md"))]
    assert all(h.source != "06-functions.md" for h in await retriever.search("def greet", k=10))
    await knowledge.aclose()


async def test_changing_the_chunk_size_rechunks_every_file(tmp_path, embedder, course_copy):
    await ingest(knowledge_settings(tmp_path), embedder, course_copy)
    embedder.texts.clear()
    report, _ = await ingest(
        knowledge_settings(tmp_path, "chunk_chars = 300"), embedder, course_copy
    )
    assert report.indexed == 3 and report.unchanged == 0 and embedder.texts


async def test_bad_files_are_reported_and_the_rest_still_get_in(tmp_path, embedder, course_copy):
    (course_copy / "empty.md").write_bytes(b"")
    (course_copy / "image.md").write_bytes(bytes(range(256)) * 40)
    shutil.copy(DATA / "scanned.pdf", course_copy / "scanned.pdf")
    with (course_copy / "huge.md").open("wb") as big:  # 20 MB
        big.write(b"# Huge\n\n" + b"A very long course text. " * (20 * 2**20 // 25))
    (course_copy / "picture.png").write_bytes(b"\x89PNG")
    (course_copy / ".hidden.md").write_text("# secret draft", encoding="utf-8")
    (course_copy / "fifo.md").unlink(missing_ok=True)
    os.mkfifo(course_copy / "fifo.md")  # reading it would block forever

    settings = knowledge_settings(tmp_path)
    report, files = await ingest(settings, embedder, course_copy)

    assert sources(files) == ["04-lists.md", "05-loops.md", "06-functions.md"]
    failed = {Path(p.path).name: p.reason for p in report.failed}
    skipped = {Path(p.path).name: p.reason for p in report.skipped}
    assert "binary content" in failed["image.md"]
    assert "no text layer" in failed["scanned.pdf"]
    assert skipped["empty.md"] == "empty file"
    assert (
        skipped["huge.md"].startswith("too large (20.0 MB") and "max_file_mb" in skipped["huge.md"]
    )
    assert skipped["fifo.md"] == "not a regular file"
    assert report.unsupported == 1  # picture.png; .hidden.md is not even looked at
    assert all(Path(p.path).is_absolute() for p in [*report.failed, *report.skipped])
    assert not report.ok


async def test_a_file_that_fails_later_keeps_its_indexed_version(tmp_path, embedder, course_copy):
    settings = knowledge_settings(tmp_path)
    await ingest(settings, embedder, course_copy)
    (course_copy / "05-loops.md").write_bytes(b"\x00\x01 now binary")
    report, files = await ingest(settings, embedder, course_copy)
    assert [Path(p.path).name for p in report.failed] == ["05-loops.md"]
    assert "05-loops.md" in sources(files)  # the last good version still answers
    (course_copy / "05-loops.md").write_bytes(b"")
    report, files = await ingest(settings, embedder, course_copy)
    assert "05-loops.md" not in sources(files)  # emptied on purpose: nothing to keep


async def test_missing_paths_and_single_files(tmp_path, embedder, course_copy):
    settings = knowledge_settings(tmp_path)
    report, files = await ingest(
        settings, embedder, course_copy / "05-loops.md", tmp_path / "nowhere"
    )
    assert sources(files) == ["05-loops.md"]  # relative to the file's folder
    assert [(Path(p.path).name, p.reason) for p in report.failed] == [
        ("nowhere", "no such file or folder")
    ]
    # Ingesting one file never removes its neighbours; the folder ingest finds them all.
    report, files = await ingest(settings, embedder, course_copy)
    assert (report.indexed, report.unchanged) == (2, 1)


async def test_an_unreadable_file_is_reported_with_its_path_and_reason(tmp_path, embedder):
    """chmod 000 stops everyone but root, so as root the ingest runs as ``nobody``.

    Only the effective uid changes (root gets it back after); the index is opened first,
    as root, so that nothing but reading the course files happens as ``nobody``.
    """
    as_root = os.geteuid() == 0
    work, course, secret = _course_with_an_unreadable_file()
    try:
        knowledge = CourseKnowledge(knowledge_settings(tmp_path), embedder=embedder)
        await knowledge.ingest([tmp_path / "nothing-here"])  # creates the index
        if as_root:
            os.seteuid(65534)
        try:
            report = await knowledge.ingest([course])
        finally:
            if as_root:
                os.seteuid(0)
        await knowledge.aclose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert [(p.path, p.reason) for p in report.failed] == [
        (str(secret), "cannot read: Permission denied")
    ]
    assert report.files == 1 and report.indexed == 0 and embedder.texts == []
    assert f"FAILED: {secret}: cannot read: Permission denied" in describe(report)


async def test_the_keyword_index_rebuilds_itself_from_chroma(tmp_path, embedder, course_copy):
    settings = knowledge_settings(tmp_path)
    await ingest(settings, embedder, course_copy)
    path = store_path(settings)
    before = _rows(path)
    _delete_database(path)

    index = await asyncio.to_thread(CourseIndex.open, settings, embedder.name)
    try:
        assert _rows(path) == before
        assert index.store.keyword_search(["enumerate"], 5)
    finally:
        index.close()


async def test_an_interrupted_ingest_is_repaired_on_next_open(tmp_path, embedder, course_copy):
    settings = knowledge_settings(tmp_path)
    await ingest(settings, embedder, course_copy)
    index = await asyncio.to_thread(CourseIndex.open, settings, embedder.name)
    index.begin_changes()  # as if the process died right after this
    index.store.clear()
    index.close()
    index = await asyncio.to_thread(CourseIndex.open, settings, embedder.name)
    try:
        assert len(index.store.files()) == 3
        assert index.store.count_chunks() == index.count()
    finally:
        index.close()


def _course_with_an_unreadable_file() -> tuple[Path, Path, Path]:
    work = Path(tempfile.mkdtemp(prefix="tutor-unreadable-"))  # not under a 0700 folder
    work.chmod(0o755)
    course = work / "course"
    course.mkdir()
    secret = course / "secret.md"
    secret.write_text("# Secret\n\nText.\n", encoding="utf-8")
    secret.chmod(0o000)
    return work, course, secret


def _delete_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _rows(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        files = db.execute("SELECT source, fingerprint FROM files ORDER BY source").fetchall()
        chunks = db.execute(
            "SELECT r.chunk_id, t.body FROM chunk_rows r JOIN chunk_text t ON t.rowid = r.rowid "
            "ORDER BY r.chunk_id"
        ).fetchall()
    return files + chunks


def _file_id(files, source: str) -> str:
    return next(fid for fid, record in files.items() if record.lesson.source == source)


async def test_links_out_of_the_course_folder_are_skipped_with_the_reason(
    tmp_path, embedder, course_copy
):
    """A link to a secret outside the course must never reach the index (finding 1)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".env").write_text("OPENAI_API_KEY=sk-secret-123\n", encoding="utf-8")
    (outside / "notes.md").write_text("# Notes\n\nDB_PASSWORD=hunter2\n", encoding="utf-8")
    (course_copy / "notes.txt").symlink_to(outside / ".env")
    (course_copy / "linked").symlink_to(outside, target_is_directory=True)
    (course_copy / "again.md").symlink_to(course_copy / "05-loops.md")  # inside: allowed

    settings = knowledge_settings(tmp_path)
    report, files = await ingest(settings, embedder, course_copy)

    assert "notes.txt" not in sources(files)
    assert not any("secret" in text or "hunter2" in text for text in embedder.texts)
    skipped = {Path(p.path).name: p.reason for p in report.skipped}
    assert skipped["notes.txt"] == "links outside the course folder"
    assert skipped["linked"] == "links outside the course folder"
    assert "again.md" in sources(files)
    # Asking for the link itself does not help either.
    report, files = await ingest(settings, embedder, course_copy / "notes.txt")
    assert not any("secret" in text for text in embedder.texts)
    assert [p.reason for p in report.skipped] == ["links outside the course folder"]


async def test_a_moved_course_replaces_its_old_copy(tmp_path, embedder, course_copy):
    settings = knowledge_settings(tmp_path)
    await ingest(settings, embedder, course_copy)
    moved = tmp_path / "moved-course"
    shutil.copytree(course_copy, moved)
    (moved / "07-extra.md").write_text("# Extra\n\nA lesson only the new folder has.\n")

    report, files = await ingest(settings, embedder, moved)

    assert report.removed == 3
    assert sources(files) == ["04-lists.md", "05-loops.md", "06-functions.md", "07-extra.md"]
    assert {record.root for record in files.values()} == {str(moved.resolve())}
