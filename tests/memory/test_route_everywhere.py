"""Route ``memory`` in the ledger, digests, ``tutor stats --json`` and the metrics."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from bot.cli.stats import stats_summary
from bot.config import load_config
from bot.digests.service import Digests
from bot.digests.text import render_text
from bot.digests.windows import complete_window
from bot.ledger.store import Ledger
from bot.service.metrics import Metrics
from tests.conftest import TEST_CONFIG, write_config
from tests.ledger_helpers import PARIS, cloud, interaction, paris


def remembered(at: float, saved: float, **kw: object):
    row = interaction(at, model="memory", route="memory", tokens=(0, 0), cost=0.0, **kw)
    return replace(row, reply=replace(row.reply, saved_usd=saved))


ROWS = [
    interaction(paris(2026, 11, 2, 9), user="u1"),
    cloud(paris(2026, 11, 3, 9), user="u2", tokens=(1000, 1000)),
    remembered(paris(2026, 11, 4, 9), 0.00075, user="u3"),
    remembered(paris(2026, 11, 5, 9), 0.00075, user="u4"),
    cloud(paris(2026, 10, 28, 9), user="u1", tokens=(1000, 1000)),  # the week before
]
NOW = datetime(2026, 11, 9, 9, tzinfo=PARIS)


@pytest.fixture
async def digests(tmp_path):
    settings = load_config(
        write_config(tmp_path, TEST_CONFIG + '\n[digests]\ntimezone = "Europe/Paris"\n'), {}
    )
    async with Ledger(settings, purge_every_s=None) as ledger:
        for row in ROWS:
            await ledger.record(row)
        yield Digests(settings, ledger, clock=lambda: NOW)


async def test_the_digest_counts_memory_answers_and_what_they_saved(digests):
    window = complete_window("week", NOW, PARIS)
    digest = await digests.build(window)
    now, before = digest.total
    assert (now.answers, now.local_answers, now.memory_answers) == (4, 1, 2)
    assert (now.local_share, now.memory_share, now.cloud_share) == (0.25, 0.5, 0.25)
    assert now.memory_saved_usd == pytest.approx(0.0015)
    assert now.saved_usd >= now.memory_saved_usd
    assert before.memory_answers == 0
    text = render_text(digest)
    assert "memory share" in text and "50.0%" in text
    assert "cloud share" in text and "saved by memory" in text


async def test_the_digest_says_nothing_of_memory_before_it_answers(tmp_path):
    settings = load_config(write_config(tmp_path), {})
    async with Ledger(settings, purge_every_s=None) as ledger:
        await ledger.record(interaction(paris(2026, 11, 2, 9)))
        digest = await Digests(settings, ledger, clock=lambda: NOW).build(
            complete_window("week", NOW, PARIS)
        )
    assert "memory share" not in render_text(digest)


async def test_stats_json_has_memory_in_by_route(digests):
    summary = await stats_summary(digests, "month")
    assert summary["by_route"] == {"local": 1, "memory": 2, "cloud": 2}  # 30 days: both weeks
    assert summary["memory_saved_usd"] == pytest.approx(0.0015)


def test_metrics_count_memory_answers_and_their_saving(settings):
    from prometheus_client import generate_latest

    from bot.models.registry import ModelRegistry

    metrics = Metrics(settings, ModelRegistry(settings, models={}), None)  # type: ignore[arg-type]
    row = remembered(paris(2026, 11, 4, 9), 0.002)
    metrics.observe(row.message, replace(row.reply, tier="free"))
    text = generate_latest(metrics.registry).decode()
    assert 'tutor_requests_total{outcome="answered",platform="discord",route="memory"} 1.0' in text
    assert 'tutor_memory_saved_usd_total{tier="free"} 0.002' in text
