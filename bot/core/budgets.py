"""Monthly cloud budgets per tier and per learner."""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Mapping

from bot.config import Settings
from bot.events import Reason, ReasonCode

log = logging.getLogger(__name__)

SPEND_REFRESH_S = 10.0  # how long spend read from a shared ledger is trusted

# The month's spend so far: per tier, and per learner.
Spend = tuple[Mapping[str, float], Mapping[Hashable, float]]
SpendSource = Callable[[], Awaitable[Spend]]


def month_of(unix: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(unix))


class BudgetBook:
    """Cloud spend this (UTC) month, against each tier's ``monthly_budget_usd``.

    Spend is seeded from the ledger at start-up and added to as cloud answers are
    priced. Once ``share``d, it is read again from the ledger at most every ``refresh_s``
    (``refresh``), so several instances sharing one ledger count what each spent. When a
    tier's budget is used up its learners are answered locally, and ``take_notice`` is
    true exactly once per tier and month, for telling moderators.
    """

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        refresh_s: float = SPEND_REFRESH_S,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._month = month_of(clock())
        self._tiers: defaultdict[str, float] = defaultdict(float)
        self._users: defaultdict[Hashable, float] = defaultdict(float)
        self._noticed: set[str] = set()
        self._source: SpendSource | None = None
        self._refresh_s = refresh_s
        self._read_at = -math.inf
        self._reading = False
        # Spend added while a read is under way: the read may not include it yet.
        self._meanwhile: list[tuple[str, Hashable, float]] = []

    def share(self, source: SpendSource) -> None:
        """Read the month's spend from ``source`` (the shared ledger) on ``refresh``."""
        self._source = source
        self._read_at = self._clock()  # just seeded from it

    async def refresh(self) -> None:
        """Read the spend again when the last read is older than ``refresh_s``: one read at
        a time; checks meanwhile use the last figures. A failed read keeps them."""
        if self._source is None or self._reading:
            return
        if self._clock() - self._read_at < self._refresh_s:
            return
        self._reading, self._meanwhile = True, []
        try:
            tiers, users = await self._source()
        except Exception as exc:
            log.warning("could not read the month's cloud spend from the ledger (%s)", exc)
            return
        finally:
            self._reading = False
            self._read_at = self._clock()
        self._roll()
        self._tiers = defaultdict(float, tiers)
        self._users = defaultdict(float, users)
        for tier, user, cost in self._meanwhile:  # counted twice at worst: never under
            self._tiers[tier] += cost
            self._users[user] += cost
        self._meanwhile = []

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
        if self._reading:
            self._meanwhile.append((tier, user, cost_usd))

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
