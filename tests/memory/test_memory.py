"""Course memory with a real ledger (SQLite in tmp_path) and fakes at the model ports."""

from __future__ import annotations

import pytest

from bot.core.commands import Commands
from bot.core.tutor import Tutor
from bot.events import CommandRequest, IncomingMessage
from bot.ledger.store import Ledger
from bot.ledger.teaching import LedgerTeaching
from bot.memory.memory import CourseMemory
from bot.models.registry import ModelRegistry
from bot.ports import Passage
from tests.fakes import FakeChatModel, FakeRetriever, KeywordEmbedder, RecordingSink, Script

QUESTION = "What is the difference between a list and a tuple?"
PARAPHRASE = "what is the difference between a list and a tuple"
CLOUD_ANSWER = "A list can change; a tuple cannot."
NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def course(tmp_path):
    folder = tmp_path / "course"
    folder.mkdir()
    (folder / "lists.md").write_text("# Lists\nLists change; tuples do not.\n")
    return folder


@pytest.fixture
async def ledger(settings):
    async with Ledger(settings, purge_every_s=None) as ledger:
        yield ledger


@pytest.fixture
def clock():
    return Clock()


class Bot:
    """A tutor with course memory over the real ledger; the models are fakes."""

    def __init__(self, settings, ledger, course, clock) -> None:
        self.models = {
            "local": FakeChatModel("local", Script("A local answer about lists.")),
            "tiny": FakeChatModel("tiny"),
            "cloud": FakeChatModel("cloud", Script(CLOUD_ANSWER), is_local=False),
        }
        self.ledger = ledger
        self.memory = CourseMemory(
            settings, ledger, KeywordEmbedder(), course_dir=course, clock=clock
        )
        passage = Passage("Lists change; tuples do not.", "lists.md", "Lists", 0.9)
        self.tutor = Tutor(
            settings,
            ModelRegistry(settings, models=self.models),
            retriever=FakeRetriever([passage]),
            ledger=ledger,
            memory=self.memory,
            clock=clock,
        )
        self.commands = Commands(
            settings,
            self.tutor,
            self.tutor.registry,
            self.tutor.preferences,
            records=LedgerTeaching(ledger),
        )

    async def ask(self, text: str, **kw) -> object:
        defaults = {"user": "u1", "channel": "c1", "platform": "discord", "workspace": "g1"}
        return await self.tutor.handle(IncomingMessage(text=text, **(defaults | kw)))

    async def vote(self, correlation_id: str, vote: str, user: str = "u1") -> None:
        """A learner's vote, as a feedback button sends it (the latest one wins)."""
        request = CommandRequest(
            name="feedback",
            platform="discord",
            workspace="g1",
            channel="c1",
            user=user,
            args={"vote": vote, "answer": correlation_id},
        )
        assert (await self.commands(request)).ok

    def calls(self) -> int:
        return sum(len(m.calls) for m in self.models.values())


@pytest.fixture
async def bot(settings, ledger, course, clock):
    bot = Bot(settings, ledger, course, clock)
    await bot.memory.open()
    return bot


async def test_a_cloud_answer_is_given_again_from_memory_without_a_model(bot):
    first = await bot.ask(QUESTION, tier="enterprise", user="u1")
    assert (first.route, first.text) == ("cloud", CLOUD_ANSWER)
    calls = bot.calls()
    sink = RecordingSink()
    again = await bot.tutor.handle(
        IncomingMessage(PARAPHRASE, "u2", "c2", "discord", "g1", tier="enterprise"), sink
    )
    assert (again.route, again.model, again.text) == ("memory", "memory", CLOUD_ANSWER)
    assert bot.calls() == calls  # no model was asked
    assert sink.text == CLOUD_ANSWER
    assert [c.source for c in again.citations] == ["lists.md"]
    assert again.usage.cost_usd == 0.0
    assert any(r.startswith("memory:") for r in again.reason_texts)
    await bot.ledger.flush()
    rows = await bot.ledger.query(
        "SELECT route, model, cost_usd, saved_usd FROM interactions ORDER BY id"
    )
    (_, _, cost, _), (route, model, memory_cost, saved) = rows
    assert (route, model, memory_cost) == ("memory", "memory", 0.0)
    assert cost and saved == pytest.approx(cost)  # a reuse saves what the answer cost


async def test_a_near_miss_is_not_answered_from_memory(bot):
    await bot.ask(QUESTION, tier="enterprise")
    other = await bot.ask("What is the difference between a list and a set?", tier="enterprise")
    assert other.route == "cloud"
    reset = await bot.ask("How do I reset my password?", tier="enterprise")
    progress = await bot.ask("How do I reset my progress?", tier="enterprise")
    assert (reset.route, progress.route) == ("cloud", "cloud")


async def test_local_answers_wait_for_a_vote_and_a_down_vote_stops_a_cloud_one(bot):
    local = await bot.ask(QUESTION)
    assert local.route == "local"
    assert (await bot.ask(PARAPHRASE)).route == "local"  # not proved good yet
    await bot.vote(local.correlation_id, "up")
    assert (await bot.ask(PARAPHRASE)).route == "memory"
    await bot.vote(local.correlation_id, "down")  # the same learner changes their mind
    assert (await bot.ask(PARAPHRASE)).route == "local"


@pytest.mark.parametrize(
    ("kw", "text"),
    [
        ({"local_only": True}, QUESTION),  # privacy: never stored
        ({}, QUESTION + "\n```\nx = (1, 2)\nx[0] = 3\n```"),  # pasted code
        ({}, QUESTION + " Mail me at ana@example.com"),  # personal data
    ],
    ids=["private", "code", "personal-data"],
)
async def test_some_questions_are_never_stored(bot, kw, text):
    await bot.ask(text, tier="enterprise", **kw)
    assert bot.memory.entries() == []


async def test_thread_context_is_neither_stored_nor_answered_from_memory(bot):
    from bot.events import ContextLine

    context = (ContextLine("ana", "my tuple code fails"),)
    await bot.ask(QUESTION, tier="enterprise", context=context)
    assert bot.memory.entries() == []
    await bot.ask(QUESTION, tier="enterprise")
    assert (await bot.ask(PARAPHRASE, tier="enterprise", context=context)).route == "cloud"


async def test_memory_is_per_workspace_but_a_pinned_answer_is_everywhere(bot):
    await bot.ask(QUESTION, tier="enterprise")
    assert (await bot.ask(PARAPHRASE, tier="enterprise", workspace="g2")).route == "cloud"
    await bot.memory.add("How do I reset my progress?", "Settings, then Reset progress.")
    reply = await bot.ask("how do I reset my progress", tier="enterprise", workspace="g9")
    assert (reply.route, reply.text) == ("memory", "Settings, then Reset progress.")


async def test_a_pinned_answer_wins_over_a_remembered_one(bot):
    await bot.ask(QUESTION, tier="enterprise")
    entry = await bot.memory.add(PARAPHRASE, "The moderators' answer.")
    reply = await bot.ask(QUESTION, tier="enterprise", user="u2")
    assert reply.text == "The moderators' answer."
    assert "memory:pinned" in reply.reason_texts[-1]
    assert await bot.memory.forget(entry)
    assert (await bot.ask(QUESTION, tier="enterprise", user="u3")).text == CLOUD_ANSWER


async def test_an_entry_retires_when_a_cited_file_changes(bot, course):
    await bot.ask(QUESTION, tier="enterprise")
    assert (await bot.ask(PARAPHRASE, tier="enterprise")).route == "memory"
    (course / "lists.md").write_text("# Lists\nRewritten: lists and tuples, again.\n")
    assert (await bot.ask(PARAPHRASE, tier="enterprise")).route == "cloud"
    why = await bot.ledger.query("SELECT retired_why FROM memory_entries WHERE id = 1")
    assert why == [("source-changed:lists.md",)]


async def test_an_entry_retires_after_its_ttl(bot, clock, settings):
    await bot.ask(QUESTION, tier="enterprise")
    clock.now += (settings.memory.ttl_days + 1) * 86_400
    assert (await bot.ask(PARAPHRASE, tier="enterprise")).route == "cloud"
    assert await bot.ledger.query("SELECT retired_why FROM memory_entries WHERE id = 1") == [
        ("ttl",)
    ]


async def test_entries_survive_a_restart(settings, ledger, course, clock):
    first = Bot(settings, ledger, course, clock)
    await first.memory.open()
    await first.ask(QUESTION, tier="enterprise")
    second = Bot(settings, ledger, course, clock)
    await second.memory.open()
    reply = await second.ask(PARAPHRASE, tier="enterprise")
    assert (reply.route, reply.text) == ("memory", CLOUD_ANSWER)
    assert second.calls() == 0


async def test_a_failing_memory_never_stops_an_answer(bot, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("disk gone")

    monkeypatch.setattr(bot.memory, "recall", broken)
    monkeypatch.setattr(bot.memory, "remember", broken)
    reply = await bot.ask(QUESTION, tier="enterprise")
    assert (reply.route, reply.outcome) == ("cloud", "answered")


async def test_the_same_question_is_stored_once(bot):
    await bot.ask(QUESTION, tier="enterprise")
    await bot.ask(QUESTION, tier="enterprise", user="u2")  # from memory: nothing new
    await bot.ask(QUESTION, tier="enterprise", workspace="g2")  # another workspace: its own
    assert [e.scope for e in bot.memory.entries()] == [("discord", "g1"), ("discord", "g2")]


async def test_a_follow_up_that_leans_on_the_conversation_is_not_answered_from_memory(bot):
    await bot.ask("What is a tuple?", tier="enterprise", conversation="t1")
    await bot.ask("How do I sort a list?", tier="enterprise", conversation="t2", user="u2")
    follow = await bot.ask("and what is a tuple?", tier="enterprise", conversation="t2", user="u2")
    assert follow.route == "cloud"
    fresh = await bot.ask("and what is a tuple?", tier="enterprise", conversation="t3", user="u3")
    assert fresh.route == "memory"  # the same words, asked on their own
