"""Keyword ranking of whole lessons (bm25s) over a real sidecar store."""

from __future__ import annotations

from pathlib import Path

from knowledge.chunking import LessonInfo
from knowledge.lexical import LessonBM25
from knowledge.store import CourseStore, FileRecord, StoredChunk, query_terms

LESSONS = {
    "break.md": ["The break statement", "break terminates the nearest enclosing loop."],
    "continue.md": ["The continue statement", "continue goes on with the next cycle of the loop."],
    "files.md": ["Reading files", "open() returns a file object; read it line by line."],
}


def store_with_lessons(path: Path) -> CourseStore:
    store = CourseStore(path / "course.sqlite3")
    for number, (source, paragraphs) in enumerate(LESSONS.items()):
        info = LessonInfo(source, paragraphs[0], number + 1)
        chunks = [
            StoredChunk(f"{source}:{i}", f"{info.title}\n{text}")
            for i, text in enumerate(paragraphs)
        ]
        store.replace_file(FileRecord(f"f{number}", "root", "x", info, len(chunks)), chunks)
    return store


def test_lessons_are_ranked_by_their_whole_text_with_stemming(tmp_path):
    store = store_with_lessons(tmp_path)
    index = LessonBM25.build(store, "v1")
    ranked = index.top(query_terms("how do I exit loops with break?"), 10)
    assert [source for source, _ in ranked][:2] == ["break.md", "continue.md"]  # "loops": loop
    assert all(score > 0 for _, score in ranked)
    assert "files.md" not in dict(ranked)  # matches no term: left out
    assert [s for s, _ in index.top(query_terms("reading a file line by line"), 1)] == ["files.md"]
    store.close()


def test_unknown_words_and_an_empty_course_give_nothing(tmp_path):
    store = store_with_lessons(tmp_path)
    assert LessonBM25.build(store, "v1").top(["zyzzyva", "quux"], 5) == []
    assert LessonBM25.build(store, "v1").top([], 5) == []
    empty = CourseStore(tmp_path / "empty.sqlite3")
    assert LessonBM25.build(empty, None).top(["loop"], 5) == []
    store.close()
    empty.close()


def test_a_lessons_best_chunk_for_the_terms(tmp_path):
    store = store_with_lessons(tmp_path)
    assert store.best_chunk("files.md", ["read", "line"]) == "files.md:1"
    assert store.best_chunk("files.md", ["zyzzyva"]) == "files.md:0"  # none matches: the first
    assert store.best_chunk("missing.md", ["read"]) is None
    store.close()
