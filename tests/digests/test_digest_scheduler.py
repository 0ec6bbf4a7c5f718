"""Scheduled digests: cron firing on a controllable clock, once per period, catch-up."""

import asyncio
from datetime import datetime

import pytest

from bot.config import load_config
from bot.digests.scheduler import DigestScheduler
from bot.digests.service import Digests
from bot.events import Outbound
from bot.ledger.store import Ledger
from tests.clock import FakeClock
from tests.conftest import TEST_CONFIG, write_config
from tests.ledger_helpers import PARIS, PASTED_CODE, cloud, interaction, paris

DIGESTS = """
[digests]
timezone = "Europe/Paris"
period = "day"
schedules = ["0 9 * * *", {{ cron = "0 9 * * mon", period = "week" }}]
targets = [{{ platform = "discord", channel = "123" }}]
grace_hours = 2
retry_minutes = 10
"""


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


class OutboundRecorder:
    """The outbound half of a platform adapter; fails ``failures`` times first."""

    def __init__(self, name: str = "discord", failures: int = 0) -> None:
        self.name = name
        self.failures = failures
        self.attempts = 0
        self.sent: list[Outbound] = []
        self.arrived: asyncio.Queue[Outbound] = asyncio.Queue()

    async def run(self, handler, commands) -> None:  # the inbound half is not under test
        raise NotImplementedError

    async def send(self, message: Outbound) -> None:
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the platform is down")
        self.sent.append(message)
        self.arrived.put_nowait(message)


class Bot:
    """A ledger, digests and a scheduler sharing one data folder, restartable."""

    def __init__(self, tmp_path, clock: FakeClock, digests_config: str = DIGESTS) -> None:
        path = write_config(tmp_path, TEST_CONFIG + digests_config.format())
        self.settings = load_config(path, {})
        self.clock = clock

    async def start(self, *adapters) -> DigestScheduler:
        self.ledger = await Ledger(self.settings, purge_every_s=None).open()
        digests = Digests(self.settings, self.ledger, clock=self.clock)
        self.scheduler = DigestScheduler(
            self.settings, self.ledger, digests, list(adapters), clock=self.clock
        )
        await self.scheduler.start()
        await self.scheduler.idle()  # the start-up catch-up
        return self.scheduler

    async def stop(self) -> None:
        await self.scheduler.aclose()
        await self.ledger.aclose()

    async def posts(self) -> list[tuple[str, str, str]]:
        return await self.ledger.query(
            "SELECT period_key, target, status FROM digest_posts ORDER BY period_key"
        )


async def tick(scheduler: DigestScheduler) -> None:
    """Let APScheduler look at the (fake) time now, and finish what it started."""
    scheduler.scheduler.wakeup()
    for _ in range(3):
        await asyncio.sleep(0)  # one loop iteration each: process jobs, start them
    await scheduler.idle()


@pytest.fixture
def clock(monkeypatch):
    clock = FakeClock(at(2026, 11, 10, 8, 59, 30))  # a Tuesday
    clock.install(monkeypatch)
    return clock


@pytest.fixture
async def bot(tmp_path, clock):
    bot = Bot(tmp_path, clock)
    yield bot
    if hasattr(bot, "scheduler"):
        await bot.stop()


async def seed(bot: Bot) -> None:
    async with Ledger(bot.settings, purge_every_s=None) as ledger:
        await ledger.record(interaction(paris(2026, 11, 9, 14), user="u1"))
        await ledger.record(cloud(paris(2026, 11, 9, 15), user="u2", reasons=(PASTED_CODE,)))


async def test_the_digest_fires_on_the_cron_tick_and_not_before(bot, clock):
    await seed(bot)
    discord = OutboundRecorder()
    scheduler = await bot.start(discord)
    assert discord.sent == []  # yesterday's 09:00 run is beyond the 2-hour grace
    assert scheduler.next_runs() == [at(2026, 11, 10, 9), at(2026, 11, 16, 9)]

    await tick(scheduler)  # 08:59:30: nothing is due
    assert discord.sent == [] and scheduler.next_runs()[0] == at(2026, 11, 10, 9)

    clock.advance(seconds=31)  # 09:00:01
    await tick(scheduler)
    [message] = discord.sent
    assert (message.platform, message.channel) == ("discord", "123")
    assert message.text.startswith("Tutor usage digest: Mon 9 Nov 2026 (Europe/Paris)")
    assert "questions                     2" in message.text
    [chart] = message.attachments
    assert chart.data.startswith(b"\x89PNG")
    assert scheduler.next_runs()[0] == at(2026, 11, 11, 9)
    assert await bot.posts() == [("day:2026-11-09", "discord::123", "sent")]

    clock.advance(hours=1)  # later ticks of the same day post nothing new
    await tick(scheduler)
    assert len(discord.sent) == 1


async def test_a_restart_right_after_posting_does_not_post_again(bot, clock):
    clock.set(at(2026, 11, 10, 9, 0, 5))
    first = OutboundRecorder()
    await bot.start(first)  # the catch-up posts the 09:00 run
    assert len(first.sent) == 1
    await bot.stop()

    clock.advance(minutes=1)
    again = OutboundRecorder()
    scheduler = await bot.start(again)
    await tick(scheduler)
    assert again.sent == [] and again.attempts == 0
    assert await bot.posts() == [("day:2026-11-09", "discord::123", "sent")]


async def test_runs_missed_while_down_are_posted_once_at_start_up(bot, clock):
    await seed(bot)
    # Down since Friday evening: three daily runs and a weekly one were missed.
    clock.set(at(2026, 11, 16, 10, 30))  # Monday, within 2 hours of 09:00
    discord = OutboundRecorder()
    scheduler = await bot.start(discord)
    texts = [m.text.splitlines()[0] for m in discord.sent]
    assert texts == [
        "Tutor usage digest: Sun 15 Nov 2026 (Europe/Paris)",
        "Tutor usage digest: week Mon 9 Nov 2026 to Sun 15 Nov 2026 (Europe/Paris)",
    ]
    assert [p[0] for p in await bot.posts()] == ["day:2026-11-15", "week:2026-11-09"]
    assert [d.status for d in await scheduler.catch_up()] == ["already-posted"] * 2
    assert len(discord.sent) == 2


async def test_a_run_missed_beyond_the_grace_window_is_skipped(bot, clock):
    clock.set(at(2026, 11, 16, 11, 30))  # 2.5 hours after 09:00
    discord = OutboundRecorder()
    await bot.start(discord)
    assert discord.sent == [] and await bot.posts() == []


async def test_a_failed_post_is_retried_within_the_grace_window(bot, clock):
    clock.set(at(2026, 11, 10, 9, 0, 5))
    discord = OutboundRecorder(failures=1)
    scheduler = await bot.start(discord)
    assert discord.sent == [] and await bot.posts() == [
        ("day:2026-11-09", "discord::123", "failed")
    ]
    clock.advance(minutes=10)
    await tick(scheduler)
    assert discord.attempts == 2 and len(discord.sent) == 1
    assert await bot.posts() == [("day:2026-11-09", "discord::123", "sent")]


async def test_a_claim_left_by_a_dead_process_is_taken_over_once_stale(tmp_path, clock):
    two = '{{ platform = "discord", channel = "123" }}, {{ platform = "discord", channel = "456" }}'
    bot = Bot(tmp_path, clock, DIGESTS.replace('{{ platform = "discord", channel = "123" }}', two))
    clock.set(at(2026, 11, 10, 9, 30))
    now = clock().timestamp()
    async with Ledger(bot.settings, purge_every_s=None) as ledger:
        await ledger.write(
            (
                "INSERT INTO digest_posts (period_key, target, status, run_id, claimed_at)"
                " VALUES ('day:2026-11-09', 'discord::123', 'pending', 'dead', ?),"
                " ('day:2026-11-09', 'discord::456', 'pending', 'busy', ?)",
                (now - 20 * 60, now - 60),
            )
        )
    discord = OutboundRecorder()
    scheduler = await bot.start(discord)
    assert [m.channel for m in discord.sent] == ["123"]  # 456 is being posted by another run
    assert [d.status for d in await scheduler.catch_up()] == ["already-posted"] * 2
    await bot.stop()


async def test_a_platform_not_running_here_gets_a_console_preview_not_a_post(tmp_path, clock):
    config = DIGESTS.replace('platform = "discord"', 'platform = "slack"')
    bot = Bot(tmp_path, clock, config)
    clock.set(at(2026, 11, 10, 9, 0, 5))
    console = OutboundRecorder("console")
    await bot.start(console)
    [preview] = console.sent
    assert preview.platform == "console" and "slack channel 123" in preview.channel
    assert preview.text.startswith("Tutor usage digest: Mon 9 Nov 2026")
    assert await bot.posts() == []  # still owed to Slack when its adapter runs
    await bot.stop()
