"""Cost digests: per-tier figures from the ledger, compared with the period before.

Figures come from the ledger's rollups (see bot.ledger.schema), so a digest costs the
same over a hundred rows or ten million. Definitions:

- questions: every recorded message; answers: those a model answered (not failures
  or empty messages); local share: local answers / answers.
- cloud spend: known costs; answers with no price are counted apart, never as $0.
- saved: what local answers' tokens would have cost on the tier's cloud model, plus
  what answers given again from course memory cost to make (route ``memory``).
- memory share: answers given from course memory / answers; cloud share: the rest that
  neither a local model nor memory gave.
- latency p50/p95: of answers, read from a histogram with 2%-wide buckets (so within
  1% of the exact value); nearest-rank percentiles.
- learners: distinct learners with a recorded message (forgotten learners drop out).
- budget used: the tier's cloud spend this month (to the period's end) over its
  ``monthly_budget_usd``; shown for bot-wide digests only.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from bot.config import Settings
from bot.digests.windows import Window, month_start
from bot.ledger import queries
from bot.ledger.queries import Scope
from bot.ledger.schema import QUARTER_S, bucket_ms
from bot.ledger.store import NO_MODEL, Ledger


@dataclass(frozen=True, slots=True)
class Figures:
    """One tier's (or all tiers') figures over one window."""

    questions: int = 0
    answers: int = 0
    local_answers: int = 0
    learners: int = 0
    spend_usd: float = 0.0
    unknown_cost: int = 0  # answers whose model has no price
    saved_usd: float = 0.0
    unknown_saved: int = 0  # local answers with no priced cloud model to compare with
    failures: int = 0
    fell_back: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    reasons: tuple[tuple[str, int], ...] = ()  # top escalation reasons, most frequent first
    memory_answers: int = 0  # given again from course memory: no model, no cost
    memory_saved_usd: float = 0.0  # what those answers cost to make the first time

    @property
    def local_share(self) -> float | None:
        return self.local_answers / self.answers if self.answers else None

    @property
    def memory_share(self) -> float | None:
        return self.memory_answers / self.answers if self.answers else None

    @property
    def cloud_share(self) -> float | None:
        if not self.answers:
            return None
        return (self.answers - self.local_answers - self.memory_answers) / self.answers


@dataclass(frozen=True, slots=True)
class BudgetUse:
    spent_usd: float
    budget_usd: float
    unknown_cost: int = 0

    @property
    def used(self) -> float:
        return self.spent_usd / self.budget_usd


@dataclass(frozen=True, slots=True)
class Series:
    """Cloud spend and local share per tier per chart bucket (``edges`` in unix seconds)."""

    edges: tuple[float, ...]
    spend: Mapping[str, list[float]]
    local_share: Mapping[str, list[float | None]]


@dataclass(frozen=True, slots=True)
class Digest:
    window: Window
    previous: Window
    scope: Scope | None
    tiers: dict[str, tuple[Figures, Figures]]  # tier -> (current, previous)
    total: tuple[Figures, Figures]
    budgets: dict[str, tuple[BudgetUse, BudgetUse]] = field(default_factory=dict)
    series: Series = field(default_factory=lambda: Series((), {}, {}))
    prices_as_of: str = ""
    learning: queries.Learning | None = None  # the router's last refit in the window

    @property
    def empty(self) -> bool:
        return not (self.total[0].questions or self.total[1].questions)


# --- computation ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Acc:
    """Running sums for one tier."""

    questions: int = 0
    answers: int = 0
    local_answers: int = 0
    spend: float = 0.0
    unknown_cost: int = 0
    saved: float = 0.0
    unknown_saved: int = 0
    failures: int = 0
    fell_back: int = 0
    latency: Counter[int] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    learners: set[int] = field(default_factory=set)
    memory_answers: int = 0
    memory_saved: float = 0.0

    def add(self, other: _Acc) -> None:
        for name in (
            "questions",
            "answers",
            "local_answers",
            "spend",
            "unknown_cost",
            "saved",
            "unknown_saved",
            "failures",
            "fell_back",
            "memory_answers",
            "memory_saved",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency.update(other.latency)
        self.reasons.update(other.reasons)
        self.learners |= other.learners

    def figures(self, top_reasons: int) -> Figures:
        reasons = sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:top_reasons]
        return Figures(
            questions=self.questions,
            answers=self.answers,
            local_answers=self.local_answers,
            learners=len(self.learners),
            spend_usd=self.spend,
            unknown_cost=self.unknown_cost,
            saved_usd=self.saved,
            unknown_saved=self.unknown_saved,
            failures=self.failures,
            fell_back=self.fell_back,
            p50_ms=percentile(self.latency, 0.50),
            p95_ms=percentile(self.latency, 0.95),
            reasons=tuple(reasons),
            memory_answers=self.memory_answers,
            memory_saved_usd=self.memory_saved,
        )


def percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """Nearest-rank percentile of a latency histogram (bucket -> count), in ms."""
    n = sum(histogram.values())
    if not n:
        return None
    rank, seen = max(1, math.ceil(q * n)), 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_ms(bucket)
    return None  # unreachable: seen ends at n >= rank


class DigestBuilder:
    """Computes Digests from a ledger's rollups."""

    def __init__(self, settings: Settings, ledger: Ledger) -> None:
        self.settings = settings
        self.ledger = ledger

    async def build(self, window: Window, scope: Scope | None = None) -> Digest:
        previous = window.previous()
        (current, series), (before, _) = await asyncio.gather(
            self._window(window, scope, chart=True), self._window(previous, scope, chart=False)
        )
        top = self.settings.digests.top_reasons
        names = self._order(set(current) | set(before))
        tiers = {
            name: (current.get(name, _Acc()).figures(top), before.get(name, _Acc()).figures(top))
            for name in names
        }
        total = (_sum(current.values()).figures(top), _sum(before.values()).figures(top))
        budgets = {} if scope is not None else await self._budgets(window, previous)
        learning = await queries.latest_learning(self.ledger, window.start_ts, window.end_ts)
        return Digest(
            window=window,
            previous=previous,
            scope=scope,
            tiers=tiers,
            total=total,
            budgets=budgets,
            series=series,
            prices_as_of=self.settings.prices.as_of,
            learning=learning,
        )

    def _order(self, names: set[str]) -> list[str]:
        """Configured tiers in config order, then any others the ledger remembers."""
        known = [name for name in self.settings.tiers if name in names]
        return known + sorted(names - set(known))

    async def _window(
        self, window: Window, scope: Scope | None, *, chart: bool
    ) -> tuple[dict[str, _Acc], Series]:
        q0 = math.floor(window.start_ts / QUARTER_S)
        q1 = math.ceil(window.end_ts / QUARTER_S)
        accs: defaultdict[str, _Acc] = defaultdict(_Acc)
        edges = window.buckets() if chart else [window.start_ts, window.end_ts]
        slots = len(edges) - 1
        spend: defaultdict[str, list[float]] = defaultdict(lambda: [0.0] * slots)
        answers: defaultdict[str, list[int]] = defaultdict(lambda: [0] * slots)
        local: defaultdict[str, list[int]] = defaultdict(lambda: [0] * slots)

        usage, reasons, latency, learners = await asyncio.gather(
            queries.usage(self.ledger, q0, q1, scope),
            queries.escalation_reasons(self.ledger, q0, q1, scope),
            queries.latency_histogram(self.ledger, q0, q1, scope),
            queries.active_learners(self.ledger, window.start_ts, window.end_ts, q0, q1, scope),
        )
        for q, tier, model, route, outcome, n, cost, unknown, saved, unsaved in usage:
            acc = accs[tier]
            acc.questions += n
            acc.spend += cost
            acc.unknown_cost += unknown
            acc.saved += saved
            acc.unknown_saved += unsaved
            acc.failures += n if outcome == "failed" else 0
            acc.fell_back += n if outcome == "fell_back" else 0
            slot = min(max(bisect.bisect_right(edges, q * QUARTER_S) - 1, 0), slots - 1)
            spend[tier][slot] += cost
            if model != NO_MODEL:
                acc.answers += n
                answers[tier][slot] += n
                if route == "local":
                    acc.local_answers += n
                    local[tier][slot] += n
                elif route == "memory":
                    acc.memory_answers += n
                    acc.memory_saved += saved
        for tier, reason, n in reasons:
            accs[tier].reasons[reason] += n
        for tier, bucket, n in latency:
            accs[tier].latency[bucket] += n
        for tier, learner in learners:
            accs[tier].learners.add(learner)
        series = Series(
            edges=tuple(edges),
            spend=dict(spend),
            local_share={
                tier: [lo / an if an else None for lo, an in zip(local[tier], counts, strict=True)]
                for tier, counts in answers.items()
            },
        )
        return dict(accs), series

    async def _budgets(
        self, window: Window, previous: Window
    ) -> dict[str, tuple[BudgetUse, BudgetUse]]:
        budgets = {
            name: tier.monthly_budget_usd
            for name, tier in self.settings.tiers.items()
            if tier.monthly_budget_usd
        }
        if not budgets:
            return {}
        now, before = await asyncio.gather(self._month_spend(window), self._month_spend(previous))

        def use(spend: dict[str, tuple[float, int]], name: str, budget: float) -> BudgetUse:
            spent, unknown = spend.get(name, (0.0, 0))
            return BudgetUse(spent, budget, unknown)

        return {
            name: (use(now, name, budget), use(before, name, budget))
            for name, budget in budgets.items()
        }

    async def _month_spend(self, window: Window) -> dict[str, tuple[float, int]]:
        """Cloud spend per tier from the start of the month to the window's end."""
        start = month_start(window.end - timedelta(microseconds=1)).timestamp()
        rows = await queries.spend_by_tier(
            self.ledger, math.floor(start / QUARTER_S), math.ceil(window.end_ts / QUARTER_S)
        )
        return {tier: (spent, unknown) for tier, spent, unknown in rows}


def _sum(accs: Iterable[_Acc]) -> _Acc:
    total = _Acc()
    for acc in accs:
        total.add(acc)
    return total
