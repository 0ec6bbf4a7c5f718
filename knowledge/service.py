"""The course knowledge as the bot uses it: a retriever when an index exists, and re-ingest.

``CourseKnowledge`` never stops the bot: a missing index, an index built by another
embedder or an unreachable Chroma server leave ``retriever`` as None (answers are then
ungrounded) and ``problem`` says what to do about it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from bot.config import Settings
from bot.events import CommandRequest, CommandResult
from bot.ports import CheckResult, Embedder
from knowledge.embeddings import build_embedder
from knowledge.index import CourseIndex, EmbedderMismatch, IndexMissing
from knowledge.ingest import Ingestor, IngestReport
from knowledge.navigation import NavigationAnswer
from knowledge.progress import IngestProgress
from knowledge.report import describe
from knowledge.retriever import CourseRetriever, SearchOptions

log = logging.getLogger(__name__)


def course_dir(settings: Settings) -> Path:
    """``knowledge.course_dir``, relative to the config file's folder."""
    path = Path(settings.knowledge.course_dir).expanduser()
    return path if path.is_absolute() else settings.config_path.parent / path


class CourseKnowledge:
    """Owns the embedder and the open index; ``retriever`` is None until an index exists."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or build_embedder(settings)
        self._owns_embedder = embedder is None
        self.index: CourseIndex | None = None
        self.retriever: CourseRetriever | None = None
        self.problem: str | None = None  # why there is no retriever, for humans
        self._mismatched = False  # the index was built by another embedder
        self._lock = asyncio.Lock()

    async def open(self) -> CourseRetriever | None:
        """Open an existing index (never creates one); ``problem`` says why there is none."""
        try:
            index = await asyncio.to_thread(CourseIndex.open, self.settings, self.embedder.name)
        except IndexMissing:
            self.problem = (
                f"no course index yet: run `tutor ingest {self.settings.knowledge.course_dir}` "
                "to ground answers in the course"
            )
        except EmbedderMismatch as exc:
            self.problem = str(exc)
            self._mismatched = True
        except Exception as exc:  # e.g. a Chroma server that is down
            self.problem = f"cannot open the course index: {type(exc).__name__}: {exc}"
            log.debug("opening the course index failed", exc_info=True)
        else:
            self._use(index)
        return self.retriever

    async def navigate(self, question: str, recent: Sequence[str] = ()) -> NavigationAnswer | None:
        """``CourseRetriever.navigate``; None while there is no index."""
        if self.retriever is None:
            return None
        return await self.retriever.navigate(question, recent)

    async def warm(self) -> None:
        """Load the embedding model ahead of the first question, if it loads in-process,
        and measure the index's relevance floor (once per version of the index)."""
        warm = getattr(self.embedder, "warm", None)
        if self.retriever is not None and warm is not None:
            await warm()
        if self.retriever is not None:
            await self.retriever.calibrate()

    async def ingest(
        self,
        paths: Sequence[Path],
        *,
        rebuild: bool = False,
        progress: IngestProgress | None = None,
    ) -> IngestReport:
        """Ingest ``paths``, creating the index if needed. Raises EmbedderMismatch."""
        async with self._lock:
            if self.index is None or rebuild:
                index = await asyncio.to_thread(
                    CourseIndex.open,
                    self.settings,
                    self.embedder.name,
                    create=True,
                    rebuild=rebuild,
                )
                self._use(index)
            assert self.index is not None
            return await Ingestor(
                self.settings, self.index, self.embedder, progress=progress
            ).ingest(paths)

    async def reindex(self, req: CommandRequest) -> CommandResult:
        """The ``/tutor reindex`` hook: re-ingest the configured course folder."""
        if self._lock.locked():
            return CommandResult("A re-index is already running; try again when it's done.")
        folder = course_dir(self.settings)
        if not folder.is_dir():
            return CommandResult(f"The course folder {folder} does not exist.", ok=False)
        rebuild = self._mismatched  # a moderator asking to re-index accepts a rebuild
        log.info(
            "[%s] %s re-indexes %s (rebuild=%s)", req.correlation_id, req.user, folder, rebuild
        )
        report = await self.ingest([folder], rebuild=rebuild)
        return CommandResult(describe(report, markdown=True), ok=report.ok)

    async def aclose(self) -> None:
        if self.index is not None:
            await asyncio.to_thread(self.index.close)
            self.index = None
        close = getattr(self.embedder, "aclose", None)
        if self._owns_embedder and close is not None:
            await close()

    def _use(self, index: CourseIndex) -> None:
        old, self.index = self.index, index
        if old is not None and old is not index:
            old.close()
        self.retriever = CourseRetriever(
            index, self.embedder, SearchOptions.from_config(self.settings.knowledge)
        )
        self.problem = None
        self._mismatched = False


async def check_index(settings: Settings) -> list[CheckResult]:
    """``tutor doctor`` and start-up: the index exists and matches the configured embedder.

    Opens the index without loading the embedding model (its name is enough).
    """
    name = build_embedder(settings).name
    command = f"tutor ingest {settings.knowledge.course_dir}"
    try:
        index = await asyncio.to_thread(CourseIndex.open, settings, name)
    except IndexMissing as exc:
        return [CheckResult("course index", "warn", str(exc), f"run `{command}`")]
    except EmbedderMismatch as exc:
        return [CheckResult("course index", "fail", str(exc), f"run `{command} --reindex`")]
    chunks = await asyncio.to_thread(index.count)
    detail = f"{chunks} passages in {index.name!r}, built with {name}"
    if not chunks:
        return [CheckResult("course index", "warn", detail, f"run `{command}`")]
    return [CheckResult("course index", "pass", detail)]
