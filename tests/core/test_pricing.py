"""Cost and "saved" arithmetic from the price table."""

import logging

import pytest

from bot.config import load_config
from bot.core.pricing import Pricing
from tests.conftest import TEST_CONFIG, write_config

CONFIG = (
    TEST_CONFIG
    + """
[models.mystery]
provider = "openai"
model = "gpt-9-preview"

[tiers.pro]
chain = ["local", "tiny"]

[tiers.odd]
chain = ["local", "mystery", "cloud"]
"""
)


@pytest.fixture
def pricing(tmp_path):
    return Pricing(load_config(write_config(tmp_path, CONFIG), {}))


def test_cloud_cost_is_tokens_times_the_price_per_million(pricing):
    # gpt-4o-mini: $0.15 in, $0.60 out per 1M tokens
    assert pricing.cost_usd("cloud", 1_000_000, 0) == pytest.approx(0.15)
    assert pricing.cost_usd("cloud", 2000, 500) == pytest.approx((2000 * 0.15 + 500 * 0.60) / 1e6)
    assert pricing.cost_usd("cloud", 0, 0) == 0.0


def test_local_models_cost_nothing(pricing):
    assert pricing.cost_usd("local", 10_000, 10_000) == 0.0
    assert pricing.cost_usd("tiny", 10_000, 10_000) == 0.0


def test_unknown_price_is_none_with_one_warning(pricing, caplog):
    with caplog.at_level(logging.WARNING, logger="bot.core.pricing"):
        assert pricing.cost_usd("mystery", 100, 100) is None
        assert pricing.cost_usd("mystery", 5, 5) is None
    warnings = [r for r in caplog.records if "mystery" in r.getMessage()]
    assert len(warnings) == 1


def test_saved_prices_a_local_answer_on_the_tiers_first_cloud_model(pricing):
    assert pricing.cloud_model("free") == "cloud"
    assert pricing.saved_usd("free", "local", 1000, 500) == pytest.approx(
        (1000 * 0.15 + 500 * 0.60) / 1e6
    )
    # a cloud answer, or no answer at all, saves nothing
    assert pricing.saved_usd("free", "cloud", 1000, 500) == 0.0
    assert pricing.saved_usd("free", "none", 0, 0) == 0.0


def test_saved_is_unknown_without_a_priced_cloud_model(pricing):
    assert pricing.cloud_model("pro") is None
    assert pricing.saved_usd("pro", "local", 1000, 500) is None
    # the first cloud model of the chain counts, even if it has no price
    assert pricing.cloud_model("odd") == "mystery"
    assert pricing.saved_usd("odd", "local", 1000, 500) is None
    assert pricing.saved_usd("no-such-tier", "local", 1000, 500) is None


def test_an_unpriced_cloud_model_is_counted_at_the_dearest_known_price(tmp_path, caplog):
    """Never free: an unpriced cloud model costs what the dearest priced model would (finding 2)."""
    settings = load_config(write_config(tmp_path, CONFIG), {})
    pricing = Pricing(settings)
    dearest = max(settings.prices.models.values(), key=lambda p: p.input + p.output)
    with caplog.at_level(logging.WARNING, logger="bot.core.pricing"):
        cost = pricing.budget_cost_usd("mystery", 1_000_000, 1_000_000)
    assert cost == pytest.approx(dearest.input + dearest.output)
    assert "most expensive known price" in caplog.text
    assert pricing.budget_cost_usd("cloud", 1_000_000, 0) == pytest.approx(0.15)
    assert pricing.budget_cost_usd("local", 1_000_000, 0) == 0.0
