"""Conversations restored from the ledger: a thread continued after a restart, or on another
instance sharing the ledger, keeps its history and its sticky escalation."""

from __future__ import annotations

import pytest

from bot.core.history import PastTurn, history_pairs, sticky_left
from bot.core.tutor import Tutor
from bot.events import ChatMessage, IncomingMessage
from bot.ledger.store import Ledger, LedgerError
from bot.models.registry import ModelRegistry
from tests.fakes import FakeChatModel, Script

CONFIDENT = "A list is an ordered, changeable collection of items written in square brackets."
CLOUD = "A thorough cloud answer."


class Instance:
    """One bot process: its own tutor and models on a ledger (shared or reopened)."""

    def __init__(self, settings, ledger: Ledger, **kw: object) -> None:  # type: ignore[no-untyped-def]
        self.models = {
            "local": FakeChatModel("local", Script(CONFIDENT)),
            "tiny": FakeChatModel("tiny", Script(CONFIDENT)),
            "cloud": FakeChatModel("cloud", Script(CLOUD), is_local=False),
        }
        self.ledger = ledger
        registry = ModelRegistry(settings, models=self.models)
        self.tutor = Tutor(settings, registry, ledger=ledger, **kw)  # type: ignore[arg-type]

    def prompts(self) -> list[list[ChatMessage]]:
        return [call for model in self.models.values() for call in model.calls]


def ask(text: str, conversation: str | None = "t1", user: str = "u1") -> IncomingMessage:
    return IncomingMessage(
        text=text,
        user=user,
        channel="c1",
        conversation=conversation,
        workspace="g1",
        platform="discord",
    )


def turns_in(prompt: list[ChatMessage]) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in prompt if m.role != "system"]


async def test_a_thread_continued_after_a_restart_keeps_its_history_and_stickiness(settings):
    async with Ledger(settings, purge_every_s=None) as ledger:
        first = Instance(settings, ledger)
        reply = await first.tutor.handle(ask("compare lists and tuples"))
        assert reply.route == "cloud"
    async with Ledger(settings, purge_every_s=None) as ledger:  # the process restarted
        second = Instance(settings, ledger)
        follow = await second.tutor.handle(ask("and sets?"))
        assert follow.route == "cloud" and "sticky:2" in follow.reason_texts
        prompt = turns_in(second.models["cloud"].calls[-1])
        assert ("assistant", CLOUD) in prompt
        assert any(role == "user" and "compare lists and tuples" in text for role, text in prompt)
        elsewhere = await second.tutor.handle(ask("and sets?", conversation="t2"))
        assert elsewhere.route == "local"  # another thread: no history, not sticky
        assert not any(CLOUD in text for _, text in turns_in(second.models["local"].calls[-1]))


async def test_restored_history_keeps_the_configured_number_of_turns(settings):
    turns = settings.tutor.history_turns
    async with Ledger(settings, purge_every_s=None) as ledger:
        first = Instance(settings, ledger)
        for i in range(turns + 3):
            await first.tutor.handle(ask(f"what is item {i} of a list?"))
    async with Ledger(settings, purge_every_s=None) as ledger:
        second = Instance(settings, ledger)
        await second.tutor.handle(ask("and the next one?"))
        prompt = turns_in(second.prompts()[-1])
        asked = [text for role, text in prompt if role == "user" and "what is item" in text]
        assert len(asked) == turns
        assert f"what is item {turns + 2} of a list?" in asked[-1]
        assert not any("what is item 0 " in text for text in asked)


async def test_a_forgotten_learner_starts_afresh(settings):
    async with Ledger(settings, purge_every_s=None) as ledger:
        first = Instance(settings, ledger)
        await first.tutor.handle(ask("my secret question about lists"))
        assert await ledger.forget_text("discord", "g1", "u1") == 1
    async with Ledger(settings, purge_every_s=None) as ledger:
        second = Instance(settings, ledger)
        await second.tutor.handle(ask("and tuples?"))
        prompt = turns_in(second.prompts()[-1])
        assert not any("secret" in text or CONFIDENT in text for _, text in prompt)


async def test_without_message_text_kept_nothing_is_restored_but_stickiness(settings):
    settings = settings.model_copy(
        update={"ledger": settings.ledger.model_copy(update={"text_retention_days": 0})}
    )
    async with Ledger(settings, purge_every_s=None) as ledger:
        await Instance(settings, ledger).tutor.handle(ask("compare lists and tuples"))
    async with Ledger(settings, purge_every_s=None) as ledger:
        second = Instance(settings, ledger)
        follow = await second.tutor.handle(ask("and sets?"))
        assert follow.route == "cloud" and "sticky:2" in follow.reason_texts
        assert turns_in(second.models["cloud"].calls[-1])[:-1] == []  # only the question


async def test_a_degraded_ledger_starts_the_conversation_empty_and_answers(settings):
    ledger = Ledger(settings).degrade(LedgerError("disk gone"))
    instance = Instance(settings, ledger)
    reply = await instance.tutor.handle(ask("what is a list?"))
    assert reply.text == CONFIDENT
    assert [role for role, _ in turns_in(instance.prompts()[-1])] == ["user"]


async def test_a_ledger_failing_mid_run_is_reported_once_and_answering_goes_on(settings, caplog):
    ledger = await Ledger(settings, purge_every_s=None).open()
    await Instance(settings, ledger).tutor.handle(ask("what is a list?"))
    await ledger.aclose()  # reads fail from now on, as with a server gone away
    instance = Instance(settings, ledger)
    replies = [await instance.tutor.handle(ask("and a tuple?", user=u)) for u in ("u1", "u2")]
    assert [r.text for r in replies] == [CONFIDENT, CONFIDENT]
    assert [role for role, _ in turns_in(instance.prompts()[-1])] == ["user"]
    warned = [
        r
        for r in caplog.records
        if "could not restore" in r.getMessage() and r.levelname == "WARNING"
    ]
    assert len(warned) == 1  # said once while it lasts, not on every message


async def test_instances_sharing_a_ledger_see_each_others_turns(settings):
    """Round robin across two instances: each turn's prompt holds every earlier turn."""
    async with (
        Ledger(settings, purge_every_s=None) as one,
        Ledger(settings, purge_every_s=None) as two,
    ):
        if not one.shared:
            pytest.skip("an SQLite ledger belongs to one process")
        a, b = Instance(settings, one), Instance(settings, two)
        await a.tutor.handle(ask("what is a list?"))
        await b.tutor.handle(ask("and a tuple?"))
        await a.tutor.handle(ask("and a set?"))
        asked = [text for role, text in turns_in(a.prompts()[-1]) if role == "user"]
        assert len(asked) == 3 and "and a tuple?" in asked[1]


def turn(route: str = "local", codes: tuple[str, ...] = (), **kw: object) -> PastTurn:
    fields = {"tier": "free", "route": route, "model": route, "outcome": "answered"}
    fields |= {"codes": codes, "question": "q", "answer": "a"} | kw
    return PastTurn(**fields)  # type: ignore[arg-type]


def test_hints_redirects_and_failures_are_not_history():
    past = [
        turn(),
        turn(codes=("hint",)),
        turn(codes=("off-topic",)),
        turn(model="none", outcome="failed"),
        turn(question=None),  # purged
        turn(route="memory", codes=("memory",)),
    ]
    assert history_pairs(past) == [("q", "a"), ("q", "a")]


def test_stickiness_replays_as_the_tutor_counts_it():
    three = {"free": 3}.get
    assert sticky_left([turn("cloud")], lambda t: three(t, 0)) == 3
    sticky = turn("cloud", codes=("sticky",))
    assert sticky_left([turn("cloud"), sticky, sticky], lambda t: three(t, 0)) == 1
    assert sticky_left([turn("cloud"), *[sticky] * 5], lambda t: three(t, 0)) == 0
    vote = turn("cloud", codes=("learner-vote",))
    assert sticky_left([vote], lambda t: three(t, 0)) == 0  # "ask the detailed model"
    assert sticky_left([turn("cloud"), turn()], lambda t: three(t, 0)) == 3  # local: unchanged
