"""What an answer cost, from the price table in config."""

from __future__ import annotations

import logging
import re

from bot.config import Price, Settings
from bot.ports import Generation

log = logging.getLogger(__name__)

# Counted when a cloud model has no price and the table is empty: dear on purpose
# (USD per million tokens, above any GPT-4 class list price).
FALLBACK_PRICE = Price(input=30.0, output=120.0)


class Pricing:
    """Prices per model; local models cost nothing, unknown cloud models cost ``None``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._warned: set[str] = set()

    def generation_cost(self, model_name: str, gen: Generation) -> float | None:
        """What one model call cost, its prompt-cache reads and writes included."""
        return self.cost_usd(
            model_name,
            gen.input_tokens,
            gen.output_tokens,
            cache_read=gen.cache_read_tokens,
            cache_write=gen.cache_write_tokens,
        )

    def cost_usd(
        self,
        model_name: str,
        input_tokens: int,
        output_tokens: int,
        *,
        cache_read: int = 0,
        cache_write: int = 0,
    ) -> float | None:
        """``input_tokens`` counts every prompt token; ``cache_read`` and ``cache_write``
        of them are priced at the cache rates (the input rate when none is set)."""
        if self._settings.is_local(model_name):
            return 0.0
        price = self.price(model_name)
        if price is None:
            if model_name not in self._warned:
                self._warned.add(model_name)
                log.warning(
                    "no price for model %s in [prices.models]; its cost is recorded as "
                    "unknown and counted against budgets at the most expensive known price",
                    model_name,
                )
            return None
        cache_read, cache_write = max(cache_read, 0), max(cache_write, 0)
        uncached = max(input_tokens - cache_read - cache_write, 0)
        read_price = price.input if price.cache_read is None else price.cache_read
        write_price = price.input if price.cache_write is None else price.cache_write
        return (
            uncached * price.input
            + cache_read * read_price
            + cache_write * write_price
            + output_tokens * price.output
        ) / 1_000_000

    def budget_cost_usd(self, model_name: str, input_tokens: int, output_tokens: int) -> float:
        """What an answer counts against budgets: never free for a cloud model.

        A cloud model with no price counts at the most expensive price in the table
        (or ``FALLBACK_PRICE`` when the table is empty).
        """
        cost = self.cost_usd(model_name, input_tokens, output_tokens)
        if cost is not None:
            return cost
        dearest = self.dearest_price()
        return (input_tokens * dearest.input + output_tokens * dearest.output) / 1_000_000

    def dearest_price(self) -> Price:
        """The most expensive known price (by input plus output per million tokens)."""
        table = self._settings.prices.models
        if not table:
            return FALLBACK_PRICE
        return max(table.values(), key=lambda p: p.input + p.output)

    def saved_usd(
        self, tier: str, model_name: str, input_tokens: int, output_tokens: int
    ) -> float | None:
        """What a local answer's tokens would have cost on the tier's cloud model.

        A cloud answer (or none) saves nothing. ``None`` when the tier has no cloud
        model in its chain or that model has no price: the saving is unknown, not 0.
        """
        if model_name not in self._settings.models or not self._settings.is_local(model_name):
            return 0.0
        cloud = self.cloud_model(tier)
        if cloud is None:
            return None
        return self.cost_usd(cloud, input_tokens, output_tokens)

    def cloud_model(self, tier: str) -> str | None:
        """The first cloud model in a tier's chain: what "all-cloud" would have used."""
        if tier not in self._settings.tiers:
            return None
        chain = self._settings.chain(tier)
        return next((name for name in chain if not self._settings.is_local(name)), None)

    def price(self, model_name: str) -> Price | None:
        """The price of a model entry, by its provider model id, its entry name, or the
        id without a date suffix (``claude-haiku-4-5-20251001`` is ``claude-haiku-4-5``)."""
        table = self._settings.prices.models
        config = self._settings.models.get(model_name)
        model = config.model if config else model_name
        return table.get(model) or table.get(model_name) or table.get(_DATED.sub("", model))


_DATED = re.compile(r"-\d{8}$")
