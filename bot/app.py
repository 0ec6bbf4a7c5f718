"""The composition root: BotApp owns every resource and closes them in reverse order."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from types import TracebackType

from bot.commands import Commands
from bot.config import Settings
from bot.digest_scheduler import DigestScheduler
from bot.digest_service import Digests
from bot.ledger import Ledger
from bot.models.registry import ModelRegistry
from bot.ports import Adapter, ChatModel, PreferenceStore
from bot.tutor import Tutor

log = logging.getLogger(__name__)


class BotApp:
    """``async with BotApp(settings) as app: await app.tutor.handle(msg)``."""

    def __init__(self, settings: Settings, *, models: Mapping[str, ChatModel] | None = None):
        self.settings = settings
        self._models = models
        self._stack = contextlib.AsyncExitStack()
        self.registry: ModelRegistry
        self.preferences: PreferenceStore
        self.ledger: Ledger
        self.digests: Digests
        self.tutor: Tutor
        self.commands: Commands

    async def __aenter__(self) -> BotApp:
        await self._stack.__aenter__()
        try:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.registry = ModelRegistry(self.settings, models=self._models)
            self._stack.push_async_callback(self.registry.aclose)
            self.ledger = await Ledger(self.settings).open()
            self._stack.push_async_callback(self.ledger.aclose)  # writes queued rows first
            self.preferences = self.ledger.preferences
            self.digests = Digests(self.settings, self.ledger)
            self.tutor = Tutor(
                self.settings, self.registry, ledger=self.ledger, preferences=self.preferences
            )
            self.commands = Commands(
                self.settings,
                self.tutor,
                self.registry,
                self.preferences,
                cost=self.digests.command,
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

    async def start_digests(self, adapters: Sequence[Adapter]) -> DigestScheduler | None:
        """Post scheduled digests through these adapters until the app closes."""
        if not self.settings.digests.schedules:
            return None
        scheduler = DigestScheduler(self.settings, self.ledger, self.digests, adapters)
        await scheduler.start()
        self._stack.push_async_callback(scheduler.aclose)  # stops before the ledger closes
        return scheduler

    def local_models(self, tier: str | None = None) -> list[str]:
        tier = tier or self.settings.routing.default_tier
        return [name for name in self.settings.chain(tier) if self.settings.is_local(name)]

    async def warm(self, tier: str | None = None) -> None:
        """Preload the tier's local models; the ones that fail are skipped until they recover."""
        await self.registry.warm(self.local_models(tier))
        for name, health in self.registry.health().items():
            if not health.healthy:
                log.warning("%s is not available: %s", name, health.last_error)
