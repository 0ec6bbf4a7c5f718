"""Digest figures against a hand-computed fixture, and their text and chart."""

from datetime import datetime

import pytest

from bot.config import load_config
from bot.digests.chart import render_chart
from bot.digests.compute import Figures, Scope
from bot.digests.service import Digests
from bot.digests.text import render_text
from bot.digests.windows import complete_window
from bot.events import CommandRequest, Reason, ReasonCode
from bot.ledger.store import Ledger
from tests.conftest import write_config
from tests.ledger_helpers import LOW_CONFIDENCE, PARIS, PASTED_CODE, cloud, interaction, paris

CONFIG = """
[models.local]
provider = "ollama"
model = "llama3.2:3b"

[models.tiny]
provider = "embedded"
model = "smollm2-135m"

[models.cloud]
provider = "openai"
model = "gpt-4o-mini"

[models.mystery]
provider = "openai"
model = "gpt-9-preview"

[roles]
default = "local"
fallback = "cloud"

[tiers.free]
chain = ["default", "tiny", "fallback"]
monthly_budget_usd = 10

[tiers.pro]
chain = ["local"]

[tiers.enterprise]
chain = ["cloud", "local"]

[prices]
as_of = "2026-11-01"

[prices.models]
"gpt-4o-mini" = { input = 0.15, output = 0.60 }

[digests]
timezone = "Europe/Paris"
"""


def price(tokens_in: int, tokens_out: int) -> float:
    return (tokens_in * 0.15 + tokens_out * 0.60) / 1e6


LOCAL_TIMEOUT = Reason(ReasonCode.FAILOVER, "local:timeout")
TINY_DOWN = Reason(ReasonCode.FAILOVER, "tiny:unavailable")

# The week of Mon 2 to Sun 8 November 2026 in Paris, the week before, and two rows
# just outside both. Numbers in the comments are worked out by hand below.
ROWS = [
    # current week, tier free
    interaction(paris(2026, 11, 2, 9), user="u1", tokens=(1000, 500), latency_ms=100),
    interaction(paris(2026, 11, 2, 23, 30), user="u2", tokens=(2000, 1000), latency_ms=200),
    cloud(paris(2026, 11, 3, 10), user="u1", tokens=(1000, 1000), latency_ms=1000,
          reasons=(PASTED_CODE,)),
    cloud(paris(2026, 11, 5, 15), user="u3", tokens=(2000, 0), latency_ms=3000,
          outcome="fell_back", reasons=(LOCAL_TIMEOUT, TINY_DOWN, Reason(ReasonCode.LOCAL_FAILED))),
    interaction(paris(2026, 11, 6, 12), user="u2", model="none", outcome="failed",
                tokens=(0, 0), latency_ms=5000,
                reasons=(LOCAL_TIMEOUT, Reason(ReasonCode.FAILOVER, "cloud:rate-limited"))),
    interaction(paris(2026, 11, 7, 12), user="u4", model="none", tokens=(0, 0), latency_ms=0,
                reasons=(Reason(ReasonCode.EMPTY_MESSAGE),)),
    interaction(paris(2026, 11, 8, 23, 59), user="u8", workspace="g2", tokens=(100, 100),
                latency_ms=100),
    # current week, tier enterprise (cloud first in its chain) and pro (no cloud at all)
    cloud(paris(2026, 11, 4, 10), tier="enterprise", user="u5", tokens=(4000, 2000),
          latency_ms=400),
    interaction(paris(2026, 11, 4, 11), tier="enterprise", user="u5", model="mystery",
                route="cloud", cost=None, tokens=(100, 100), latency_ms=600,
                reasons=(Reason(ReasonCode.CHANNEL_MODEL, "mystery"),)),
    interaction(paris(2026, 11, 6, 9), tier="pro", user="u6", tokens=(100, 100), latency_ms=300),
    # the week before, tier free
    interaction(paris(2026, 10, 28, 9), user="u1", tokens=(1000, 500), latency_ms=150),
    cloud(paris(2026, 10, 28, 10), user="u1", tokens=(1000, 1000), latency_ms=900,
          reasons=(LOW_CONFIDENCE,)),
    cloud(paris(2026, 11, 1, 12), user="u7", tokens=(2000, 0), latency_ms=500,
          reasons=(PASTED_CODE,)),
    # outside both weeks
    cloud(paris(2026, 11, 9), user="u1", tokens=(5000, 5000)),
    cloud(paris(2026, 10, 25, 23, 59), user="u1", tokens=(5000, 5000)),
]  # fmt: skip
WEEK = complete_window("week", datetime(2026, 11, 9, 9, tzinfo=PARIS), PARIS)


@pytest.fixture
async def digests(tmp_path):
    settings = load_config(write_config(tmp_path, CONFIG), {})
    async with Ledger(settings, purge_every_s=None) as ledger:
        for row in ROWS:
            await ledger.record(row)
        yield Digests(settings, ledger, clock=lambda: datetime(2026, 11, 9, 9, tzinfo=PARIS))


def check(figures: Figures, **expected: object) -> None:
    for name, value in expected.items():
        got = getattr(figures, name)
        if name.endswith("_ms"):  # read from a histogram with 2%-wide buckets
            assert got == pytest.approx(value, rel=0.01), name
        elif isinstance(value, float):
            assert got == pytest.approx(value), name
        else:
            assert got == value, name


async def test_figures_per_tier_match_the_hand_computed_fixture(digests):
    digest = await digests.build(WEEK)
    assert list(digest.tiers) == ["free", "pro", "enterprise"]

    free, free_before = digest.tiers["free"]
    check(
        free,
        questions=7,  # every message, the failed and the empty one included
        answers=5,
        local_answers=3,
        learners=5,  # u1 u2 u3 u4 u8
        spend_usd=price(1000, 1000) + price(2000, 0),
        unknown_cost=0,
        saved_usd=price(1000, 500) + price(2000, 1000) + price(100, 100),
        unknown_saved=0,
        failures=1,
        fell_back=1,
        p50_ms=200,  # answers' latencies 100 100 200 1000 3000: 3rd of 5
        p95_ms=3000,  # 5th of 5
        reasons=(("code", 1), ("failover", 1), ("local-failed", 1)),  # codes, each once
    )
    assert free.local_share == pytest.approx(0.6)
    check(
        free_before,
        questions=3,
        answers=3,
        local_answers=1,
        learners=2,  # u1 u7
        spend_usd=price(1000, 1000) + price(2000, 0),
        saved_usd=price(1000, 500),
        failures=0,
        p50_ms=500,  # 150 500 900
        p95_ms=900,
        reasons=(("code", 1), ("low-confidence", 1)),
    )

    pro, pro_before = digest.tiers["pro"]
    check(pro, questions=1, local_answers=1, saved_usd=0.0, unknown_saved=1, p95_ms=300)
    assert pro_before == Figures()

    enterprise, _ = digest.tiers["enterprise"]
    check(
        enterprise,
        questions=2,
        answers=2,
        local_answers=0,
        learners=1,
        spend_usd=price(4000, 2000),
        unknown_cost=1,  # the unpriced model counts apart, never as $0
        p50_ms=400,
        p95_ms=600,
        reasons=(("channel-model", 1), ("tier-chain", 1)),
    )
    assert enterprise.local_share == 0.0

    total, _ = digest.total
    check(
        total,
        questions=10,
        answers=8,
        local_answers=4,
        learners=7,
        spend_usd=price(1000, 1000) + price(2000, 0) + price(4000, 2000),
        unknown_cost=1,
        unknown_saved=1,
        failures=1,
        p50_ms=300,  # 100 100 200 300 400 600 1000 3000: 4th of 8
        p95_ms=3000,
    )


async def test_budget_is_this_months_spend_to_the_periods_end(digests):
    digest = await digests.build(WEEK)
    assert set(digest.budgets) == {"free"}  # the only tier with a budget
    now, before = digest.budgets["free"]
    # 1 to 8 November: two cloud answers this week and one on Sunday 1 November
    assert now.spent_usd == pytest.approx(price(1000, 1000) + 2 * price(2000, 0))
    assert before.spent_usd == pytest.approx(price(2000, 0))  # 1 November only
    assert now.budget_usd == 10 and now.used == pytest.approx(now.spent_usd / 10)


async def test_series_follow_local_days(digests):
    series = (await digests.build(WEEK)).series
    assert series.edges == tuple(paris(2026, 11, d) for d in range(2, 10))
    assert series.spend["free"] == pytest.approx([0, price(1000, 1000), 0, price(2000, 0), 0, 0, 0])
    # 23:30 on Monday in Paris is Monday, and 23:59 on Sunday is Sunday
    assert series.local_share["free"] == [1.0, 0.0, None, 0.0, None, None, 1.0]


async def test_a_workspace_digest_counts_only_that_workspace(digests):
    digest = await digests.build(WEEK, Scope("discord", "g1"))
    free, _ = digest.tiers["free"]
    check(
        free,
        questions=6,
        answers=4,
        learners=4,
        saved_usd=price(1000, 500) + price(2000, 1000),
        p50_ms=200,
        p95_ms=3000,
    )
    assert digest.budgets == {}  # budgets are bot-wide
    other = await digests.build(WEEK, Scope("discord", "g2"))
    assert list(other.tiers) == ["free"] and other.tiers["free"][0].questions == 1


async def test_forgotten_learners_leave_the_learner_counts_not_the_money(digests, tmp_path):
    await digests.builder.ledger.forget_user("discord", "g1", "u1")
    free, free_before = (await digests.build(WEEK)).tiers["free"]
    assert (free.learners, free_before.learners) == (4, 1)
    assert free.questions == 7 and free.spend_usd == pytest.approx(
        price(1000, 1000) + price(2000, 0)
    )


async def test_text_shows_each_tier_against_the_week_before(digests):
    text = render_text(await digests.build(WEEK))
    assert text.startswith("Tutor usage digest: week Mon 2 Nov 2026 to Sun 8 Nov 2026")
    assert "Prices as of 2026-11-01." in text
    lines = text.splitlines()
    free = lines.index("FREE")
    block = lines[free : free + 12]
    assert any(line.split() == ["questions", "7", "3", "+133%"] for line in block)
    assert any(
        line.split() == ["local", "share", "60.0%", "33.3%", "+26.7", "pts"] for line in block
    )
    assert any(line.split() == ["failures", "1", "0", "+1"] for line in block)
    assert any(line.startswith("budget $10/month") for line in block)
    assert "  escalated: code 1, failover 1, local-failed 1" in block
    enterprise = lines[lines.index("ENTERPRISE") :]
    assert any(line.split()[:3] == ["cloud", "spend", "$0.0018+?"] for line in enterprise)
    assert "The cost of 1 answer from models missing from [prices] is unknown" in text
    assert "Saved is unknown for 1 local answer in a tier" in text
    assert any(line.split()[:3] == ["latency", "p50", "200"] for line in block)
    assert "@everyone" not in text and "<!" not in text


async def test_an_empty_period_says_so():
    from bot.digests.compute import Digest

    window = WEEK
    empty = Digest(window, window.previous(), None, {}, (Figures(), Figures()))
    assert "No questions were recorded" in render_text(empty)


async def test_chart_is_a_png_and_the_command_attaches_it(digests):
    png = render_chart(await digests.build(WEEK))
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    result = await digests.command(
        CommandRequest(name="cost", user="mod", channel="c1", platform="discord",
                       workspace="g1", is_moderator=True),
        "week",
    )  # fmt: skip
    assert result.ok and result.ephemeral
    assert "Only discord workspace g1." in result.text
    [chart] = result.attachments
    assert chart.content_type == "image/png" and chart.data.startswith(b"\x89PNG")
    bad = await digests.command(
        CommandRequest(name="cost", user="mod", channel="c1", platform="discord"), "year"
    )
    assert not bad.ok
