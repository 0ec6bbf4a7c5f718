"""Digests as the app uses them: built now or for a schedule, with text and chart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import get_args
from zoneinfo import ZoneInfo

from bot.config import DigestTarget, Period, Settings
from bot.digests.chart import render_chart
from bot.digests.compute import Digest, DigestBuilder, Scope
from bot.digests.insights import Insights, compute_insights, render_insights
from bot.digests.text import render_text
from bot.digests.windows import Window, rolling_window
from bot.events import Attachment, CommandRequest, CommandResult
from bot.ledger.store import Ledger


def utc_now() -> datetime:
    return datetime.now(UTC)


def target_scope(target: DigestTarget) -> Scope | None:
    """A target naming a workspace gets that workspace's figures only."""
    return Scope(target.platform, target.workspace) if target.workspace is not None else None


class Digests:
    """Builds digests and their messages; ``command`` is the ``/tutor cost`` hook."""

    def __init__(
        self, settings: Settings, ledger: Ledger, *, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.digests.timezone)
        self.builder = DigestBuilder(settings, ledger)
        self.ledger = ledger
        self.clock = clock

    async def build(self, window: Window, scope: Scope | None = None) -> Digest:
        return await self.builder.build(window, scope)

    async def on_demand(self, period: Period, scope: Scope | None = None) -> Digest:
        """The span up to now (last 24 hours, 7 or 30 days) against the span before."""
        return await self.build(rolling_window(period, self.clock(), self.zone), scope)

    async def message(
        self, digest: Digest, *, chart: bool = True
    ) -> tuple[str, tuple[Attachment, ...]]:
        """The digest's text and, when there is something to draw, its PNG chart."""
        text = render_text(digest)
        if digest.total[0].questions:
            found = await self.insights_for(digest.window, digest.scope)
            text = f"{text}\n\n{render_insights(found)}"
        if not chart or digest.total[0].questions == 0:
            return text, ()
        png = await asyncio.to_thread(render_chart, digest)
        name = f"digest-{digest.window.key.replace(':', '-')}.png"
        return text, (Attachment(name, png, "image/png"),)

    async def command(self, req: CommandRequest, period: str) -> CommandResult:
        """``/tutor cost``: the caller's workspace (or everything, if so configured)."""
        if period not in get_args(Period):
            return CommandResult(f"Unknown period {period!r}.", ok=False)
        scope = (
            Scope(req.platform, req.workspace)
            if self.settings.digests.command_scope == "workspace"
            else None
        )
        digest = await self.on_demand(period, scope)  # type: ignore[arg-type]
        text, attachments = await self.message(digest)
        return CommandResult(text, attachments=attachments)

    async def insights_for(self, window: Window, scope: Scope | None = None) -> Insights:
        """Instructor insight over one window (what was asked, gaps, votes, hand-offs)."""
        return await compute_insights(
            self.settings, self.ledger, window.start_ts, window.end_ts, scope
        )

    async def insights(self, period: Period, scope: Scope | None = None) -> Insights:
        """Instructor insight over the span up to now."""
        return await self.insights_for(rolling_window(period, self.clock(), self.zone), scope)

    async def insights_command(self, req: CommandRequest, period: str) -> CommandResult:
        """``/tutor insights``: the caller's workspace, for moderators, seen by them only."""
        if period not in get_args(Period):
            return CommandResult(f"Unknown period {period!r}.", ok=False)
        window = rolling_window(period, self.clock(), self.zone)  # type: ignore[arg-type]
        found = await self.insights_for(window, Scope(req.platform, req.workspace))
        return CommandResult(f"Insights, {window.label}\n{render_insights(found)}")
