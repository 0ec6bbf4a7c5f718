"""Fixtures for the course-knowledge tests.

The real all-MiniLM-L6-v2 embedder loads once per test session (about 5 s) and the sample
course is ingested once into a session index that read-only tests share.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.config import Settings, load_config
from knowledge.embeddings import SentenceTransformerEmbedder
from knowledge.service import CourseKnowledge
from tests.conftest import TEST_CONFIG, write_config

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
COURSE = ROOT / "course"


def knowledge_settings(
    folder: Path, knowledge: str = "", environ: dict[str, str] | None = None
) -> Settings:
    """Test settings whose data folder is ``folder/data``, with extra ``[knowledge]`` keys."""
    path = write_config(folder, TEST_CONFIG + "\n[knowledge]\n" + knowledge)
    return load_config(path, environ or {})


class CountingEmbedder:
    """Passes through to a real embedder and counts the texts it was asked to embed."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.texts: list[str] = []

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts.extend(texts)
        return await self.inner.embed(texts)


@pytest.fixture(scope="session")
def st_embedder() -> SentenceTransformerEmbedder:
    embedder = SentenceTransformerEmbedder()
    embedder.load()
    return embedder


@pytest.fixture
def embedder(st_embedder: SentenceTransformerEmbedder) -> CountingEmbedder:
    return CountingEmbedder(st_embedder)


@pytest.fixture(scope="session")
def course_settings(
    st_embedder: SentenceTransformerEmbedder, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """Settings of an index holding the sample course (ingested once per session)."""
    folder = tmp_path_factory.mktemp("course-index")
    settings = knowledge_settings(folder)

    async def ingest() -> None:
        knowledge = CourseKnowledge(settings, embedder=st_embedder)
        report = await knowledge.ingest([COURSE])
        await knowledge.aclose()
        assert report.ok and report.indexed == 10, report

    asyncio.run(ingest())
    return settings


MINI_COURSE = {
    "04-lists.md": """---
title: Lists
lesson: 4
---
# Lists

A list keeps items in order: `fruits = ["apple", "pear"]`.

## Indexing

`fruits[0]` is the first item; a missing position raises IndexError.
""",
    "05-loops.md": """---
title: Loops
lesson: 5
---
# Loops

## The for loop

A for loop visits each item; enumerate() gives the position too.

```python
for i, fruit in enumerate(fruits):
    print(i, fruit)
```
""",
    "06-functions.md": """---
title: Functions
lesson: 6
---
# Functions

Define a function with def and hand back a value with return.

```python
def greet(name):
    return "Hello, " + name
```
""",
}


@pytest.fixture
def course_copy(tmp_path: Path) -> Path:
    """A small three-lesson course of our own, free to change (few chunks: cheap to embed)."""
    folder = tmp_path / "course"
    folder.mkdir()
    for name, text in MINI_COURSE.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder
