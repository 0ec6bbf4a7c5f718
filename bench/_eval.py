"""Course folders and their indexes for the evaluation benches.

``open_course("pyref", data)`` builds the course into ``data/courses/pyref`` (the sample
course is ``course/`` itself), ingests it into ``data/<course>/`` (incrementally: an
unchanged course embeds nothing on a second run) and returns its settings and knowledge.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from _courses import build

from bot.config import Settings, load_config
from bot.ports import Embedder
from knowledge.service import CourseKnowledge

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "bench" / "out" / "eval"


def course_folder(name: str, data: Path, *, front_matter: bool = True) -> Path:
    """The course's lesson folder, built when it is one of the generated courses."""
    if name == "sample":
        return ROOT / "course"
    suffix = "" if front_matter else "-plain"
    return build(name, data / "courses" / f"{name}{suffix}", front_matter=front_matter)


def course_settings(
    folder: Path,
    data_dir: Path,
    environ: Mapping[str, str] | None = None,
    config: Path = ROOT / "config.toml",
) -> Settings:
    """The config (the shipped one by default), with its data folder and course folder
    pointed at these."""
    env = {"TUTOR_DATA_DIR": str(data_dir), **(environ or {})}
    settings = load_config(config, env)
    knowledge = settings.knowledge.model_copy(update={"course_dir": str(folder)})
    return settings.model_copy(update={"knowledge": knowledge})


async def open_course(
    name: str,
    data: Path,
    embedder: Embedder,
    environ: Mapping[str, str] | None = None,
    *,
    front_matter: bool = True,
    config: Path = ROOT / "config.toml",
) -> tuple[Settings, CourseKnowledge]:
    """Build and ingest course ``name``; the knowledge is open, with a retriever."""
    folder = course_folder(name, data, front_matter=front_matter)
    suffix = "" if front_matter else "-plain"
    settings = course_settings(folder, data / f"{name}{suffix}", environ, config)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    knowledge = CourseKnowledge(settings, embedder=embedder)
    await knowledge.open()
    report = await knowledge.ingest([folder])
    if not report.ok:
        raise SystemExit(f"{name}: ingest failed: {report.failed}")
    logging.getLogger(__name__).info("%s: %s", name, report)
    return settings, knowledge
