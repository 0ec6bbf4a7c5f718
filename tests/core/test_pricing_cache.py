"""Prompt-cache reads and writes are priced apart from plain input."""

import pytest

from bot.config import load_config
from bot.core.pricing import Pricing
from bot.ports import Generation
from tests.conftest import TEST_CONFIG, write_config

CONFIG = (
    TEST_CONFIG
    + """
[models.claude]
provider = "anthropic"
model = "claude-haiku-4-5-20251001"

[models.plain]
provider = "anthropic"
model = "claude-plain"

[prices.models.claude-haiku-4-5]
input = 1.00
output = 5.00
cache_write = 1.25
cache_read = 0.10
as_of = "2026-11-30"

[prices.models.claude-plain]
input = 2.00
output = 10.00
"""
)


@pytest.fixture
def pricing(tmp_path):
    return Pricing(load_config(write_config(tmp_path, CONFIG), {}))


def test_cache_tokens_are_priced_at_their_own_rates(pricing):
    # 1,000 prompt tokens: 600 read from the cache, 300 written to it, 100 plain.
    gen = Generation(
        "x", "m", input_tokens=1000, output_tokens=200, cache_read_tokens=600,
        cache_write_tokens=300,
    )  # fmt: skip
    expected = (100 * 1.00 + 600 * 0.10 + 300 * 1.25 + 200 * 5.00) / 1e6
    assert pricing.generation_cost("claude", gen) == pytest.approx(expected)
    assert pricing.cost_usd("claude", 1000, 200, cache_read=600, cache_write=300) == pytest.approx(
        expected
    )


def test_a_dated_model_id_takes_its_aliases_price(pricing):
    assert pricing.price("claude") is not None
    assert pricing.cost_usd("claude", 1_000_000, 0) == pytest.approx(1.00)


def test_without_cache_prices_cache_tokens_cost_what_input_costs(pricing):
    with_cache = pricing.cost_usd("plain", 1000, 0, cache_read=500, cache_write=500)
    assert with_cache == pytest.approx(pricing.cost_usd("plain", 1000, 0)) == pytest.approx(0.002)


def test_claude_is_cloud_and_openai_costs_are_unchanged(pricing):
    gen = Generation("x", "m", input_tokens=2000, output_tokens=500)
    assert pricing.generation_cost("cloud", gen) == pytest.approx((2000 * 0.15 + 500 * 0.60) / 1e6)
    assert pricing.cost_usd("claude", 0, 0) == 0.0
    assert pricing.cloud_model("enterprise") == "cloud"
