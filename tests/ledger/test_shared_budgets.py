"""Budgets counted from the ledger: an instance sees what the others sharing it spent."""

from __future__ import annotations

import time

from bot.core.budgets import SPEND_REFRESH_S
from bot.events import ReasonCode
from bot.ledger.store import Ledger
from tests.ledger.test_conversations import Instance, ask


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def tiny_budget(settings, usd: float):  # type: ignore[no-untyped-def]
    free = settings.tiers["free"].model_copy(update={"monthly_budget_usd": usd})
    return settings.model_copy(update={"tiers": {**settings.tiers, "free": free}})


async def test_an_instance_counts_what_another_spent_once_its_figures_are_read_again(settings):
    # One cloud answer costs $3.75e-6: each instance's own spend stays under the budget,
    # the two together do not.
    settings = tiny_budget(settings, 0.000005)
    clock = Clock()
    async with (
        Ledger(settings, purge_every_s=None) as one,
        Ledger(settings, purge_every_s=None) as two,
    ):
        a, b = Instance(settings, one, clock=clock), Instance(settings, two, clock=clock)
        for instance, ledger in ((a, one), (b, two)):
            instance.tutor.budgets.seed(*await ledger.month_spend())
            instance.tutor.budgets.share(ledger.month_spend)
        spent = await a.tutor.handle(ask("compare lists and tuples", user="u1"))
        assert spent.route == "cloud" and spent.usage.cost_usd < 0.000005
        # Within the refresh interval b trusts the figures it read: no query per message.
        early = await b.tutor.handle(ask("compare lists and tuples", conversation="t2", user="u2"))
        assert early.route == "cloud"
        clock.now += SPEND_REFRESH_S + 1
        late = await b.tutor.handle(ask("compare lists and tuples", conversation="t3", user="u3"))
        assert late.route == "local" and any(r.code is ReasonCode.TIER_BUDGET for r in late.reasons)
        assert b.tutor.budgets.spent("free") >= spent.usage.cost_usd + early.usage.cost_usd


async def test_a_ledger_that_cannot_be_read_keeps_the_last_figures(settings):
    settings = tiny_budget(settings, 0.000001)
    clock = Clock()
    async with Ledger(settings, purge_every_s=None) as ledger:
        instance = Instance(settings, ledger, clock=clock)

        async def broken():  # type: ignore[no-untyped-def]
            raise OSError("the server went away")

        instance.tutor.budgets.share(broken)
        first = await instance.tutor.handle(ask("compare lists and tuples"))
        clock.now += SPEND_REFRESH_S + 1
        second = await instance.tutor.handle(ask("compare lists and tuples", conversation="t2"))
        assert first.route == "cloud" and second.route == "local"  # its own spend still counts


async def test_moderators_are_told_once_when_a_budget_runs_out_on_several_instances(settings):
    settings = tiny_budget(settings, 0.000001)
    told: list[str] = []

    async def notify(text: str) -> None:
        told.append(text)

    async with (
        Ledger(settings, purge_every_s=None) as one,
        Ledger(settings, purge_every_s=None) as two,
    ):
        instances = [Instance(settings, ledger, notify=notify) for ledger in (one, two)]
        for i, instance in enumerate(instances):
            instance.tutor.budgets.seed({"free": 1.0})  # used up, as both read it
            reply = await instance.tutor.handle(ask("compare lists and tuples", user=f"u{i}"))
            assert reply.route == "local"
    assert len(told) == 1 and "free tier has used its monthly cloud budget" in told[0]
