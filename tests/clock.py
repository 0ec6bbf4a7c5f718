"""A controllable clock for schedule tests: time moves only when the test moves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

import apscheduler.executors.base
import apscheduler.schedulers.base
import pytest


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def set(self, moment: datetime) -> None:
        self.now = moment.astimezone(UTC)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make APScheduler read this clock (it calls ``datetime.now`` itself)."""
        clock = self

        class _DateTime(datetime):
            @classmethod
            def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
                return (
                    clock.now.astimezone(tz) if tz else clock.now.astimezone().replace(tzinfo=None)
                )

        monkeypatch.setattr(apscheduler.schedulers.base, "datetime", _DateTime)
        monkeypatch.setattr(apscheduler.executors.base, "datetime", _DateTime)
