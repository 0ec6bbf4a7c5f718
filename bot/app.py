"""The composition root: BotApp owns every resource and closes them in reverse order."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING

from bot.commands import Commands
from bot.config import Settings
from bot.events import CommandRequest, CommandResult
from bot.models.registry import ModelRegistry
from bot.ports import ChatModel, Embedder, PreferenceStore
from bot.preferences import MemoryPreferences
from bot.tutor import Tutor

if TYPE_CHECKING:
    from knowledge.service import CourseKnowledge

log = logging.getLogger(__name__)


class BotApp:
    """``async with BotApp(settings) as app: await app.tutor.handle(msg)``."""

    def __init__(
        self,
        settings: Settings,
        *,
        models: Mapping[str, ChatModel] | None = None,
        embedder: Embedder | None = None,
    ):
        self.settings = settings
        self._models = models
        self._embedder = embedder
        self.knowledge: CourseKnowledge | None = None
        self._stack = contextlib.AsyncExitStack()
        self.registry: ModelRegistry
        self.preferences: PreferenceStore
        self.tutor: Tutor
        self.commands: Commands

    async def __aenter__(self) -> BotApp:
        await self._stack.__aenter__()
        try:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.registry = ModelRegistry(self.settings, models=self._models)
            self._stack.push_async_callback(self.registry.aclose)
            self.preferences = MemoryPreferences()
            self.knowledge = await self._open_knowledge()
            retriever = self.knowledge.retriever if self.knowledge else None
            self.tutor = Tutor(
                self.settings, self.registry, retriever=retriever, preferences=self.preferences
            )
            self.commands = Commands(
                self.settings,
                self.tutor,
                self.registry,
                self.preferences,
                reindex=self._reindex if self.knowledge else None,
            )
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.__aexit__(exc_type, exc, tb)

    async def _open_knowledge(self) -> CourseKnowledge | None:
        """The course knowledge, when its extra is installed. Without an index answers are
        ungrounded, and the log says how to build one."""
        try:
            from knowledge.service import CourseKnowledge
        except ImportError as exc:
            log.warning("course knowledge is off (%s): pip install -e '.[knowledge]'", exc)
            return None
        knowledge = CourseKnowledge(self.settings, embedder=self._embedder)
        self._stack.push_async_callback(knowledge.aclose)
        if await knowledge.open() is None:
            log.warning("answering without course material: %s", knowledge.problem)
        return knowledge

    async def _reindex(self, req: CommandRequest) -> CommandResult:
        assert self.knowledge is not None
        result = await self.knowledge.reindex(req)
        self.tutor.retriever = self.knowledge.retriever  # the first index grounds answers now
        return result

    def local_models(self, tier: str | None = None) -> list[str]:
        tier = tier or self.settings.routing.default_tier
        return [name for name in self.settings.chain(tier) if self.settings.is_local(name)]

    async def warm(self, tier: str | None = None) -> None:
        """Preload the tier's local models; the ones that fail are skipped until they recover."""
        await self.registry.warm(self.local_models(tier))
        if self.knowledge is not None:
            await self.knowledge.warm()
        for name, health in self.registry.health().items():
            if not health.healthy:
                log.warning("%s is not available: %s", name, health.last_error)
