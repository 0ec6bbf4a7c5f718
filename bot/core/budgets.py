"""Monthly cloud budgets per tier and per learner."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping

from bot.config import Settings
from bot.events import Reason, ReasonCode


def month_of(unix: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(unix))


class BudgetBook:
    """Cloud spend this (UTC) month, against each tier's ``monthly_budget_usd``.

    Spend is seeded from the ledger at start-up and added to as cloud answers are
    priced. When a tier's budget is used up its learners are answered locally, and
    ``take_notice`` is true exactly once per tier and month, for telling moderators.
    """

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._month = month_of(clock())
        self._tiers: defaultdict[str, float] = defaultdict(float)
        self._users: defaultdict[Hashable, float] = defaultdict(float)
        self._noticed: set[str] = set()

    def _roll(self) -> None:
        month = month_of(self._clock())
        if month != self._month:
            self._month = month
            self._tiers.clear()
            self._users.clear()
            self._noticed.clear()

    def seed(
        self, tiers: Mapping[str, float], users: Mapping[Hashable, float] | None = None
    ) -> None:
        self._roll()
        self._tiers.update(tiers)
        self._users.update(users or {})

    def add(self, tier: str, user: Hashable, cost_usd: float | None) -> None:
        if not cost_usd:
            return
        self._roll()
        self._tiers[tier] += cost_usd
        self._users[user] += cost_usd

    def spent(self, tier: str) -> float:
        self._roll()
        return self._tiers[tier]

    def blocked(self, tier: str, user: Hashable) -> Reason | None:
        """A reason when the tier's or the learner's budget is used up, else None."""
        self._roll()
        config = self._settings.tiers[tier]
        if config.monthly_budget_usd is not None and self._tiers[tier] >= config.monthly_budget_usd:
            return Reason(ReasonCode.TIER_BUDGET, tier)
        limit = config.user_monthly_budget_usd
        if limit is not None and self._users[user] >= limit:
            return Reason(ReasonCode.LEARNER_BUDGET)
        return None

    def take_notice(self, tier: str) -> bool:
        self._roll()
        if tier in self._noticed:
            return False
        self._noticed.add(tier)
        return True
