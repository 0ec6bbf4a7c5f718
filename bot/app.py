"""The composition root: BotApp owns every resource and closes them in reverse order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from bot.config import ConfigError, Settings
from bot.core.commands import Commands
from bot.core.exercises import Course
from bot.core.router import ExampleClassifier, Router, load_examples
from bot.core.teaching import Teacher
from bot.core.tutor import Tutor
from bot.digests.scheduler import DigestScheduler
from bot.digests.service import Digests
from bot.events import CommandRequest, CommandResult
from bot.ledger.store import STORAGE_ERRORS, Ledger
from bot.ledger.teaching import LedgerTeaching
from bot.memory.curation import FaqCommands
from bot.memory.embedding import CachedEmbedder
from bot.memory.learning import Learned, learn, learned_examples
from bot.memory.memory import CourseMemory
from bot.models.registry import ModelRegistry
from bot.ports import Adapter, ChatModel, CheckResult, Embedder, PreferenceStore, Probe
from bot.service.metrics import Metrics

if TYPE_CHECKING:
    from adapters.slack.bot import SlackAdapter
    from bot.service.endpoint import Endpoint, ServiceState
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
        warm_router: bool = False,
    ):
        self.settings = settings
        self._models = models
        self.embedder = embedder
        self._embedder_given = embedder is not None
        self._warm_router = warm_router
        self.knowledge: CourseKnowledge | None = None
        self._stack = contextlib.AsyncExitStack()
        self.registry: ModelRegistry
        self.preferences: PreferenceStore
        self.ledger: Ledger
        self.digests: Digests
        self.router: Router
        self.tutor: Tutor
        self.commands: Commands
        self.teaching: LedgerTeaching
        self.metrics: Metrics
        self.memory: CourseMemory
        self.index_check: Probe | None = index_probe(settings)

    async def __aenter__(self) -> BotApp:
        await self._stack.__aenter__()
        try:
            self.settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.registry = ModelRegistry(self.settings, models=self._models)
            self._stack.push_async_callback(self.registry.aclose)
            try:
                self.ledger = await Ledger(self.settings).open()
            except STORAGE_ERRORS as exc:  # answering does not need the ledger: rows queue
                self.ledger = Ledger(self.settings).degrade(exc)
            self._stack.push_async_callback(self.ledger.aclose)  # writes queued rows first
            self.preferences = self.ledger.preferences
            self.digests = Digests(self.settings, self.ledger)
            self.knowledge = await self._open_knowledge()
            if self.knowledge is not None:
                self.embedder = self.knowledge.embedder  # one embedder for search and routing
            if self.embedder is not None:  # routing and memory embed the same question
                self.embedder = CachedEmbedder(self.embedder)
            self.memory = await CourseMemory(
                self.settings,
                self.ledger,
                self.embedder,
                course_dir=course_folder(self.settings),
                keeps_answers=self._has_course(),
            ).open()
            self.router = self._build_router()
            self.teaching = await LedgerTeaching(self.ledger).load()
            course = await asyncio.to_thread(load_course, self.settings)
            if self._warm_router:
                await self.warm_router()
            self.tutor = Tutor(
                self.settings,
                self.registry,
                retriever=self.knowledge.retriever if self.knowledge else None,
                ledger=self.ledger,
                preferences=self.preferences,
                router=self.router,
                memory=self.memory,
                teacher=Teacher(self.settings.teaching, course),
                teaching=self.teaching,
            )
            if self.ledger.degraded is None:
                self.tutor.budgets.seed(*await self.ledger.month_spend())
                self.tutor.budgets.share(self.ledger.month_spend)  # other instances' spend too
            self.commands = Commands(
                self.settings,
                self.tutor,
                self.registry,
                self.preferences,
                cost=self.digests.command,
                reindex=self._reindex if self.knowledge else None,
                faq=FaqCommands(self.memory),
                forget_text=self.ledger.forget_text,
                records=self.teaching,
                insights=self.digests.insights_command,
            )
            self.metrics = Metrics(self.settings, self.registry, self.ledger)
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

    async def _open_knowledge(self) -> CourseKnowledge | None:
        """The course knowledge, when its extra is installed. Without an index answers are
        ungrounded, and the log says how to build one."""
        try:
            from knowledge.service import CourseKnowledge
        except ImportError as exc:
            log.warning("course knowledge is off (%s): pip install -e '.[knowledge]'", exc)
            return None
        knowledge = CourseKnowledge(self.settings, embedder=self.embedder)
        self._stack.push_async_callback(knowledge.aclose)
        if await knowledge.open() is None:
            log.warning("answering without course material: %s", knowledge.problem)
        return knowledge

    async def _reindex(self, req: CommandRequest) -> CommandResult:
        assert self.knowledge is not None
        result = await self.knowledge.reindex(req)
        self.tutor.retriever = self.knowledge.retriever  # the first index grounds answers now
        self.memory.keeps_answers = self._has_course()
        return result

    def _has_course(self) -> bool:
        """Course memory learns once there is a course: an index, or an embedder given."""
        if self._embedder_given:
            return True
        return self.knowledge is not None and self.knowledge.retriever is not None

    def local_models(self, tier: str | None = None) -> list[str]:
        tier = tier or self.settings.routing.default_tier
        return [name for name in self.settings.chain(tier) if self.settings.is_local(name)]

    def _build_router(self) -> Router:
        """The router, with the example classifier when there is an embedder for it."""
        config = self.settings.router
        if config.classifier == "off" or self.embedder is None:
            return Router()
        path = self.settings.config_path.parent / self.settings.routing.examples
        if not path.is_file():
            log.warning("no routing examples at %s: routing by rules alone", path)
            return Router()
        try:
            classifier = ExampleClassifier(
                self.embedder,
                load_examples(path),
                method=config.classifier,
                regularisation=config.classifier_c,
                learned=learned_examples(self.settings),
            )
        except ValueError as exc:
            raise ConfigError(f"routing.examples: {exc}") from None
        return Router(classifier)

    async def learn(self) -> Learned:
        """Refit the routing classifier from the ledger's outcomes (see bot.memory.learning);
        the router uses the new model at once when it routes the held-back suite as well."""
        if self.embedder is None or self.router.classifier is None:
            raise ConfigError("the router has no classifier to refit (no embedder or examples)")
        suite = self.settings.config_path.parent / self.settings.memory.learn_suite
        learned = await learn(self.settings, self.ledger, self.embedder, suite=suite)
        if learned.run.kept:  # the tutor's router, with the new model once it is fitted
            classifier = self._build_router().classifier
            if classifier is not None:
                await classifier.warm()
                self.router.classifier = classifier
        return learned

    def start_learning(self) -> asyncio.Task[None] | None:
        """Refit the router every ``[memory] learn_every_hours`` until the app closes."""
        every_s = self.settings.memory.learn_every_hours * 3600
        if not every_s or self.router.classifier is None:
            return None

        async def loop() -> None:
            while True:
                await asyncio.sleep(every_s)
                try:
                    log.info("router learning: %s", (await self.learn()).summary())
                except Exception:
                    log.exception("router learning failed; the previous model stays")

        task = asyncio.create_task(loop(), name="router-learning")

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        self._stack.push_async_callback(stop)
        return task

    async def warm_router(self) -> None:
        """Embed the routing examples now rather than on the first question."""
        if self.router.classifier is not None:
            try:
                await self.router.classifier.warm()
            except Exception:
                log.exception("the routing classifier could not start; routing by rules alone")
                self.router.classifier = None

    async def warm(self, tier: str | None = None) -> None:
        """Preload the tier's local models; the ones that fail are skipped until they recover."""
        await self.warm_router()
        await self.registry.warm(self.local_models(tier))
        if self.knowledge is not None:
            await self.knowledge.warm()
        for name, health in self.registry.health().items():
            if not health.healthy:
                log.warning("%s is not available: %s", name, health.last_error)

    def discord_adapter(self) -> Adapter:
        """The Discord adapter, from ``[discord]``, DISCORD_TOKEN and the API overrides."""
        from adapters.discord.bot import DiscordAdapter, DiscordOptions

        token = self.settings.secrets.discord_token
        if token is None:
            raise ConfigError("DISCORD_TOKEN is not set: the Discord adapter needs a bot token")
        options = DiscordOptions.from_config(
            self.settings.discord.model_dump(exclude_none=True),
            shutdown_grace_s=self.settings.service.drain_timeout_s,
        )
        return DiscordAdapter(
            token.get_secret_value(),
            options,
            api_base=self.settings.environ.get("DISCORD_API_BASE"),
            gateway_url=self.settings.environ.get("DISCORD_GATEWAY_URL"),
        )

    def slack_adapter(self) -> SlackAdapter | None:
        """The Slack adapter when SLACK_BOT_TOKEN and an app token or signing secret are set."""
        secrets, config = self.settings.secrets, self.settings.slack
        if secrets.slack_bot_token is None:
            return None
        app_token, signing = secrets.slack_app_token, secrets.slack_signing_secret
        mode = config.mode
        if mode == "auto":
            mode = "socket" if app_token else "http" if signing else "auto"
        if mode == "auto":
            log.warning(
                "SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN nor SLACK_SIGNING_SECRET"
            )
            return None
        from adapters.slack.bot import SlackAdapter, SlackOptions

        options = SlackOptions.from_config(
            config.model_dump(exclude_none=True, exclude={"mode"}),
            mode=mode,
            api_url=self.settings.environ.get("SLACK_API_URL") or None,
            shutdown_grace_s=self.settings.service.drain_timeout_s,
            feedback_buttons=self.settings.teaching.feedback,
        )
        return SlackAdapter(
            secrets.slack_bot_token.get_secret_value(),
            app_token=app_token.get_secret_value() if app_token else None,
            signing_secret=signing.get_secret_value() if signing else None,
            options=options,
            claims=self._event_claims(),
        )

    def _event_claims(self) -> Ledger | None:
        """The ledger, so instances sharing it take each platform event once."""
        ledger: Ledger | None = getattr(self, "ledger", None)
        return ledger if ledger is not None and ledger.degraded is None else None

    # --- tutor run -------------------------------------------------------------------

    def platform_adapters(self) -> list[Adapter]:
        """Every platform adapter whose credentials are set; none means use the console.

        Raises ConfigError when credentials are set but the platform's extra is missing.
        """
        adapters: list[Adapter] = []
        try:
            if self.settings.secrets.discord_token is not None:
                adapters.append(self.discord_adapter())
            slack = self.slack_adapter()
            if slack is not None:
                adapters.append(slack)
        except ImportError as exc:
            missing = exc.name or str(exc)
            extra = "discord" if "discord" in missing else "slack"
            raise ConfigError(
                f"credentials for {extra} are set but its package is missing ({missing}): "
                f"pip install 'tutor-bot[{extra}]'"
            ) from None
        return adapters

    async def start_endpoint(self, state: ServiceState) -> Endpoint | None:
        """Serve /healthz and /metrics when ``[service] metrics_port`` is set (off otherwise)."""
        port = self.settings.service.metrics_port
        if port is None:
            return None
        from bot.service.endpoint import Endpoint

        endpoint = Endpoint(state, self.settings.service.metrics_host, port)
        await endpoint.start()
        self._stack.push_async_callback(endpoint.aclose)
        return endpoint


def course_folder(settings: Settings) -> Path:
    """``[knowledge] course_dir``, relative to the config file's folder."""
    path = Path(settings.knowledge.course_dir).expanduser()
    return path if path.is_absolute() else settings.config_path.parent / path


def load_course(settings: Settings) -> Course:
    """The course's lessons and exercises, read from ``[knowledge] course_dir``.

    Files matching ``[teaching] protected`` count as exercises as a whole. A course that
    cannot be read leaves the guard nothing to protect, and says so in the log.
    """
    from fnmatch import fnmatch

    from bot.core.exercises import build_course

    folder = course_folder(settings)
    if not folder.is_dir():
        log.warning("no course folder at %s: no exercises to protect", folder)
        return Course()
    files = []
    for path in sorted(folder.rglob("*.md")):
        source = path.relative_to(folder).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("could not read %s for its exercises: %s", path, exc)
            continue
        protected = any(fnmatch(source, glob) for glob in settings.teaching.protected)
        files.append((source, text, protected))
    return build_course(files)


def index_probe(settings: Settings) -> Probe | None:
    """The course index's check for start-up and ``tutor doctor``, once one is configured.

    The knowledge package plugs in here: a Probe that opens the Chroma collection and
    compares the embedder it was built with to the configured one. None: "not configured".
    """
    try:
        from knowledge.service import check_index
    except ImportError:  # the knowledge extra is not installed
        return None
    return partial(check_index, settings)


def doctor_probes(settings: Settings) -> list[tuple[str, Probe]]:
    """Every check ``tutor doctor`` runs, from the settings alone (nothing is opened)."""
    from bot.doctor.checks import probes

    platforms: list[tuple[str, Probe]] = []
    secrets, environ = settings.secrets, settings.environ
    if secrets.discord_token is not None:
        token = secrets.discord_token.get_secret_value()

        async def discord() -> list[CheckResult]:
            from adapters.discord.doctor import check_discord

            return await check_discord(
                token,
                api_base=environ.get("DISCORD_API_BASE") or None,
                message_content=settings.discord.message_content,
            )

        platforms.append(("discord", discord))
    if secrets.slack_bot_token is not None:
        bot_token = secrets.slack_bot_token.get_secret_value()
        app_token, signing = secrets.slack_app_token, secrets.slack_signing_secret

        async def slack() -> list[CheckResult]:
            from adapters.slack.doctor import check_slack

            return await check_slack(
                bot_token,
                app_token=app_token.get_secret_value() if app_token else None,
                signing_secret=signing.get_secret_value() if signing else None,
                api_url=environ.get("SLACK_API_URL") or None,
                mode=settings.slack.mode,
            )

        platforms.append(("slack", slack))
    return probes(settings, platforms=platforms, index=index_probe(settings))
