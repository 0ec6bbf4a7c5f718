"""The time spans a digest covers, in the digests' timezone.

A scheduled digest covers the last complete calendar period before it fires
(yesterday, last Monday-to-Sunday week, last month) and compares it with the one
before. An on-demand digest covers the span up to now (the last 24 hours, 7 days or
30 days, to the next quarter-hour) and compares it with the span before that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import Period
from bot.ledger.schema import QUARTER_S

ROLLING_DAYS = {"day": 1, "week": 7, "month": 30}


@dataclass(frozen=True, slots=True)
class Window:
    """``[start, end)`` in the digests' timezone."""

    period: Period
    start: datetime
    end: datetime
    complete: bool  # a whole calendar period (scheduled digests) or a span up to now

    @property
    def start_ts(self) -> float:
        return self.start.timestamp()

    @property
    def end_ts(self) -> float:
        return self.end.timestamp()

    @property
    def key(self) -> str:
        """Names the period, e.g. ``week:2026-11-02``: what a post is recorded under."""
        return f"{self.period}:{self.start.date().isoformat()}"

    @property
    def label(self) -> str:
        s, last = self.start, self.end - timedelta(seconds=1)
        if not self.complete:
            span = {"day": "24 hours", "week": "7 days", "month": "30 days"}[self.period]
            return f"last {span} to {_day(self.end)} {self.end:%H:%M} ({self.end.tzinfo})"
        if self.period == "day":
            return f"{_day(s)} ({s.tzinfo})"
        if self.period == "week":
            return f"week {_day(s)} to {_day(last)} ({s.tzinfo})"
        return f"{s:%B %Y} ({s.tzinfo})"

    def previous(self) -> Window:
        """The span just before this one, to compare with."""
        if not self.complete:
            length = self.end_ts - self.start_ts
            start = datetime.fromtimestamp(self.start_ts - length, self.start.tzinfo)
            return Window(self.period, start, self.start, complete=False)
        return Window(self.period, _step(self.period, self.start, -1), self.start, complete=True)

    def buckets(self) -> list[float]:
        """Edges of the chart's buckets (unix seconds): hours for a day, else days."""
        step = "hour" if self.period == "day" else "day"
        edges = [self.start_ts]
        cursor = self.start
        while edges[-1] < self.end_ts:
            if step == "hour" or not self.complete:
                # Absolute hours (or 24-hour days) so a DST change gives 23 or 25 buckets.
                nxt = edges[-1] + (3600 if step == "hour" else 86400)
            else:
                cursor = cursor + timedelta(days=1)  # wall-clock day: the next local midnight
                nxt = cursor.timestamp()
            edges.append(min(nxt, self.end_ts))
        return edges


def period_start(period: Period, moment: datetime) -> datetime:
    """The start of the calendar period holding ``moment`` (aware, in its own zone)."""
    day = datetime(moment.year, moment.month, moment.day, tzinfo=moment.tzinfo)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def complete_window(period: Period, now: datetime, zone: ZoneInfo) -> Window:
    """The last whole period that ended at or before ``now``."""
    end = period_start(period, now.astimezone(zone))
    return Window(period, _step(period, end, -1), end, complete=True)


def rolling_window(period: Period, now: datetime, zone: ZoneInfo) -> Window:
    """The last 24 hours, 7 or 30 days up to ``now`` (rounded up to a quarter-hour)."""
    end_ts = math.ceil(now.timestamp() / QUARTER_S) * QUARTER_S
    start_ts = end_ts - ROLLING_DAYS[period] * 86400
    return Window(
        period,
        datetime.fromtimestamp(start_ts, zone),
        datetime.fromtimestamp(end_ts, zone),
        complete=False,
    )


def month_start(moment: datetime) -> datetime:
    return period_start("month", moment)


def _step(period: Period, start: datetime, n: int) -> datetime:
    """Move a period start by ``n`` periods, on the wall clock."""
    if period == "day":
        return start + timedelta(days=n)
    if period == "week":
        return start + timedelta(days=7 * n)
    months = start.year * 12 + start.month - 1 + n
    return start.replace(year=months // 12, month=months % 12 + 1, day=1)


def _day(moment: datetime) -> str:
    return f"{moment:%a} {moment.day} {moment:%b %Y}"
