"""The spans digests cover, in a timezone, across DST changes."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.digests.windows import complete_window, rolling_window
from tests.ledger_helpers import PARIS, paris


def at_paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def test_complete_windows_are_the_last_whole_calendar_periods():
    now = at_paris(2026, 11, 11, 9, 0)  # a Wednesday
    day = complete_window("day", now, PARIS)
    assert (day.start, day.end) == (at_paris(2026, 11, 10), at_paris(2026, 11, 11))
    week = complete_window("week", now, PARIS)
    assert (week.start, week.end) == (at_paris(2026, 11, 2), at_paris(2026, 11, 9))
    assert week.key == "week:2026-11-02"
    assert week.label == "week Mon 2 Nov 2026 to Sun 8 Nov 2026 (Europe/Paris)"
    month = complete_window("month", now, PARIS)
    assert (month.start, month.end) == (at_paris(2026, 10, 1), at_paris(2026, 11, 1))
    assert month.label == "October 2026 (Europe/Paris)"


def test_a_window_is_computed_in_the_digest_timezone_not_utc():
    # 23:30 UTC on Sunday 8 Nov is already Monday 9 Nov in Paris: last week is complete.
    now = datetime(2026, 11, 8, 23, 30, tzinfo=UTC)
    assert complete_window("week", now, PARIS).start == at_paris(2026, 11, 2)
    assert complete_window("week", now, ZoneInfo("UTC")).start == datetime(2026, 10, 26, tzinfo=UTC)


def test_previous_windows_step_back_one_period():
    jan = complete_window("month", at_paris(2027, 2, 3), PARIS)
    assert jan.previous().start == at_paris(2026, 12, 1)
    assert jan.previous().end == jan.start
    week = complete_window("week", at_paris(2026, 11, 11), PARIS)
    assert week.previous().start == at_paris(2026, 10, 26)


def test_the_day_dst_ends_has_25_hourly_buckets():
    # Paris leaves summer time at 03:00 on Sunday 25 October 2026.
    day = complete_window("day", at_paris(2026, 10, 26, 9), PARIS)
    assert day.end_ts - day.start_ts == 25 * 3600
    assert len(day.buckets()) - 1 == 25
    week = complete_window("week", at_paris(2026, 10, 27), PARIS)
    edges = week.buckets()
    assert len(edges) == 8
    assert edges == [paris(2026, 10, d) for d in range(19, 27)]  # local midnights


def test_rolling_windows_end_on_the_next_quarter_hour():
    now = datetime(2026, 11, 11, 10, 7, 30, tzinfo=UTC)
    week = rolling_window("week", now, PARIS)
    assert week.end == datetime(2026, 11, 11, 10, 15, tzinfo=UTC)
    assert week.end - week.start == timedelta(days=7)
    assert not week.complete and week.label.startswith("last 7 days to Wed 11 Nov 2026 11:15")
    before = week.previous()
    assert (before.end, before.end - before.start) == (week.start, timedelta(days=7))
    assert len(rolling_window("day", now, PARIS).buckets()) - 1 == 24


def test_windows_in_a_quarter_hour_zone_align_with_the_rollups():
    kathmandu = ZoneInfo("Asia/Kathmandu")  # UTC+05:45
    day = complete_window("day", datetime(2026, 11, 11, 12, tzinfo=kathmandu), kathmandu)
    assert day.start_ts % 900 == 0 and day.end_ts % 900 == 0
