"""Posting digests on cron schedules (APScheduler), once per period and target.

Each post is claimed in the ledger (``digest_posts``) before it is sent and marked
sent after, so a restart right after posting, a second bot process, or a catch-up
never posts the same period to the same target twice. A post whose process died
mid-send is retried once its claim is stale (better a rare duplicate than a digest
that never arrives). A failed send is retried every ``retry_minutes`` within the
grace window.

At start-up, each schedule's most recent run time is looked up: if it falls within
``grace_hours`` and was not posted (the bot was down), it is posted then, once,
however many runs were missed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from bot.config import DigestTarget, Period, Settings
from bot.digests.compute import Scope
from bot.digests.service import Digests, target_scope, utc_now
from bot.digests.windows import Window, complete_window
from bot.events import Attachment, Outbound
from bot.ledger import queries
from bot.ledger.store import Ledger
from bot.ports import Adapter

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 60.0
STALE_CLAIM_S = 900.0  # a claim older than this, still pending, belonged to a process that died
MAX_FIRES_SCANNED = 100_000
Status = Literal["sent", "already-posted", "failed", "previewed", "no-adapter"]


@dataclass(frozen=True, slots=True)
class Delivery:
    target: DigestTarget
    status: Status
    detail: str = ""


def target_key(target: DigestTarget) -> str:
    return f"{target.platform}:{target.workspace or ''}:{target.channel}"


def latest_fire(trigger: CronTrigger, now: datetime, lookback: timedelta) -> datetime | None:
    """The trigger's last run time in ``[now - lookback, now]``, if any."""
    fire = trigger.get_next_fire_time(None, now - lookback)
    latest = None
    for _ in range(MAX_FIRES_SCANNED):
        if fire is None or fire > now:
            break
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire)
    return latest


class DigestPoster:
    """Sends a digest to targets through the adapters' outbound port.

    A target whose platform has no running adapter is previewed on the console
    adapter, if there is one, and not recorded as posted.
    """

    def __init__(self, digests: Digests, adapters: Sequence[Adapter]) -> None:
        self.digests = digests
        self.adapters = {adapter.name: adapter for adapter in adapters}
        self._messages: dict[tuple[str, Scope | None], tuple[str, tuple[Attachment, ...]]] = {}

    def clear(self) -> None:
        self._messages.clear()

    async def message(
        self, window: Window, target: DigestTarget
    ) -> tuple[str, tuple[Attachment, ...]]:
        """Built once per window and scope, however many targets share it."""
        scope = target_scope(target)
        key = (f"{window.key}:{window.start_ts}:{window.end_ts}", scope)
        if key not in self._messages:
            digest = await self.digests.build(window, scope)
            self._messages[key] = await self.digests.message(digest)
        return self._messages[key]

    async def send(self, target: DigestTarget, window: Window) -> str:
        """Post to the target's platform; returns the text posted. Raises on failure."""
        adapter = self.adapters[target.platform]
        text, attachments = await self.message(window, target)
        async with asyncio.timeout(SEND_TIMEOUT_S):
            await adapter.send(
                Outbound(target.platform, target.channel, text, attachments if target.chart else ())
            )
        return text

    async def preview(self, target: DigestTarget, window: Window) -> Delivery:
        """Show a digest meant for a platform that is not running here."""
        console = self.adapters.get("console")
        if console is None:
            log.warning(
                "no %s adapter is running: the digest for %s waits for one",
                target.platform,
                target_key(target),
            )
            return Delivery(target, "no-adapter")
        text, attachments = await self.message(window, target)
        where = f"{target.platform} channel {target.channel} (no {target.platform} adapter here)"
        await console.send(Outbound("console", where, text, attachments))
        return Delivery(target, "previewed")

    async def post_now(self, window: Window, targets: Sequence[DigestTarget]) -> list[Delivery]:
        """Post to every target without recording (on-demand digests)."""
        results = []
        for target in targets:
            if target.platform not in self.adapters:
                results.append(await self.preview(target, window))
                continue
            try:
                await self.send(target, window)
            except Exception as exc:
                log.exception("posting the digest to %s failed", target_key(target))
                results.append(Delivery(target, "failed", str(exc) or type(exc).__name__))
            else:
                results.append(Delivery(target, "sent"))
        return results


class DigestScheduler:
    """Runs the configured digest schedules on an AsyncIOScheduler."""

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        digests: Digests,
        adapters: Sequence[Adapter],
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.config = settings.digests
        self.ledger = ledger
        self.poster = DigestPoster(digests, adapters)
        self.zone = digests.zone
        self.clock = clock
        self.run_id = uuid.uuid4().hex[:12]
        self.grace = timedelta(hours=self.config.grace_hours)
        self.triggers = [
            CronTrigger.from_crontab(schedule.cron, timezone=self.zone)
            for schedule in self.config.schedules
        ]
        self.periods: list[Period] = [s.period or self.config.period for s in self.config.schedules]
        self.scheduler = AsyncIOScheduler(timezone=self.zone)
        self.catching_up: asyncio.Task[list[Delivery]] | None = None
        self._running: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Schedule the cron jobs and post, in the background, a run missed while down."""
        if not self.config.targets:
            log.warning("[digests] has schedules but no targets: no digest will be posted")
        for index, trigger in enumerate(self.triggers):
            self.scheduler.add_job(
                self._tick,
                trigger,
                args=[index],
                id=f"digest-{index}",
                name=f"digest {self.config.schedules[index].cron} ({self.periods[index]})",
                misfire_grace_time=max(1, int(self.grace.total_seconds())),
                coalesce=True,
                max_instances=1,
            )
        self.scheduler.start()
        self.catching_up = asyncio.create_task(self.catch_up(), name="digest-catch-up")

    async def aclose(self) -> None:
        """Let a post in progress finish (bounded), then stop the scheduler."""
        if pending := self._in_progress():
            await asyncio.wait(pending, timeout=SEND_TIMEOUT_S)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the next loop iteration

    async def idle(self) -> None:
        """Wait until no job or catch-up is running."""
        while pending := self._in_progress():
            await asyncio.wait(pending)

    def _in_progress(self) -> set[asyncio.Task[Any]]:
        tasks = {*self._running, *([self.catching_up] if self.catching_up else [])}
        return {task for task in tasks if not task.done()}

    def next_runs(self) -> list[datetime | None]:
        return [job.next_run_time for job in self.scheduler.get_jobs()]

    async def catch_up(self) -> list[Delivery]:
        """Post each schedule's latest run within the grace window, unless already posted."""
        now = self.clock()
        results: list[Delivery] = []
        for index, trigger in enumerate(self.triggers):
            fire = latest_fire(trigger, now, self.grace)
            if fire is not None:
                log.info("catching up the digest due at %s", fire.isoformat())
                results += await self.run(index, fire)
        return results

    async def run(self, index: int, fire: datetime) -> list[Delivery]:
        """Post the digest of schedule ``index`` due at ``fire``, once per target."""
        window = complete_window(self.periods[index], fire, self.zone)
        results = []
        self.poster.clear()
        for target in self.config.targets:
            try:
                results.append(await self._post(target, window))
            except Exception as exc:  # the ledger itself failed; the next run will see it
                log.exception("the digest for %s failed", target_key(target))
                results.append(Delivery(target, "failed", str(exc)))
        if any(r.status == "failed" for r in results):
            self._retry_later(index, fire)
        return results

    async def _post(self, target: DigestTarget, window: Window) -> Delivery:
        if target.platform not in self.poster.adapters:
            return await self.poster.preview(target, window)
        key = target_key(target)
        if not await self._claim(window.key, key):
            return Delivery(target, "already-posted")
        try:
            text = await self.poster.send(target, window)
        except Exception as exc:
            detail = str(exc) or type(exc).__name__
            log.warning("posting the %s digest to %s failed: %s", window.key, key, detail)
            await self._mark(window.key, key, "failed", error=detail)
            return Delivery(target, "failed", detail)
        await self._mark(window.key, key, "sent", text=text)
        log.info("posted the %s digest to %s", window.key, key)
        return Delivery(target, "sent")

    async def _claim(self, period_key: str, target: str) -> bool:
        now = self.clock().timestamp()
        return await queries.claim_digest_post(
            self.ledger, period_key, target, self.run_id, now, now - STALE_CLAIM_S
        )

    async def _mark(
        self, period_key: str, target: str, status: str, *, text: str | None = None,
        error: str | None = None,
    ) -> None:  # fmt: skip
        await queries.mark_digest_post(
            self.ledger, period_key, target, self.run_id, status, self.clock().timestamp(),
            text=text, error=error,
        )  # fmt: skip

    def _retry_later(self, index: int, fire: datetime) -> None:
        at = self.clock() + timedelta(minutes=self.config.retry_minutes)
        if not self.scheduler.running or at > fire + self.grace:
            return
        self.scheduler.add_job(
            self._retry,
            DateTrigger(run_date=at),
            args=[index, fire],
            id=f"digest-{index}-retry",
            replace_existing=True,
            misfire_grace_time=max(1, int(self.grace.total_seconds())),
        )

    async def _retry(self, index: int, fire: datetime) -> None:
        await self._guarded(self.run(index, fire))

    async def _tick(self, index: int) -> None:
        """The cron job: post the run that just came due."""
        now = self.clock()
        fire = latest_fire(self.triggers[index], now, max(self.grace, timedelta(hours=1))) or now
        await self._guarded(self.run(index, fire))

    async def _guarded(self, work: Awaitable[list[Delivery]]) -> None:
        """Run a job, remembered so that closing waits for it rather than cutting a post."""
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            await work
        finally:
            if task is not None:
                self._running.discard(task)
