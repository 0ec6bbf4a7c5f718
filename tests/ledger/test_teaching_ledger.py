"""Teaching's state in the real ledger: votes, hint levels, modes, hand-offs, insight."""

import json
from datetime import UTC, datetime

import pytest

from bot.cli.stats import stats_summary
from bot.core.commands import Commands
from bot.core.teaching import Teacher
from bot.core.tutor import Tutor
from bot.digests.insights import compute_insights, render_insights
from bot.digests.service import Digests
from bot.events import Citation, CommandRequest, IncomingMessage, Reason, ReasonCode
from bot.ledger import queries
from bot.ledger.store import Ledger
from bot.ledger.teaching import LedgerTeaching
from bot.models.registry import ModelRegistry
from tests.core.test_guide_mode import COURSE
from tests.fakes import FakeChatModel, Script
from tests.ledger_helpers import cloud, interaction

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def ledger(settings):
    async with Ledger(settings, purge_every_s=None, clock=Clock()) as opened:
        yield opened


async def test_one_vote_per_learner_per_answer_the_latest_wins(ledger):
    teaching = await LedgerTeaching(ledger, clock=Clock()).load()
    await teaching.vote("a1", "discord", "g1", "u1", "up")
    await teaching.vote("a1", "discord", "g1", "u1", "down")
    await teaching.vote("a1", "discord", "g1", "u2", "up")
    assert [(v.user, v.vote) for v in await queries.votes(ledger, "a1")] == [
        ("u1", "down"),
        ("u2", "up"),
    ]
    with pytest.raises(ValueError):
        await teaching.vote("a1", "discord", "g1", "u1", "meh")


def tutor_on(settings, ledger, teaching):
    fakes = {
        "local": FakeChatModel("local", Script("Loop over the letters.")),
        "tiny": FakeChatModel("tiny"),
        "cloud": FakeChatModel("cloud", is_local=False),
    }
    return Tutor(
        settings,
        ModelRegistry(settings, models=fakes),
        ledger=ledger,
        teacher=Teacher(settings.teaching, COURSE),
        teaching=teaching,
    )


async def test_hint_levels_and_channel_modes_survive_a_restart(settings):
    question = IncomingMessage("How do I count the vowels in a sentence?", "u1", "c1")
    hint = IncomingMessage("hint", "u1", "c1")
    async with Ledger(settings, purge_every_s=None) as ledger:
        teaching = await LedgerTeaching(ledger).load()
        tutor = tutor_on(settings, ledger, teaching)
        await tutor.handle(question)
        assert (await tutor.handle(hint)).text.startswith("**Hint 1 of 3**")
        await teaching.set_channel_mode("console", None, "c1", "answer")
        await teaching.set_channel_off_topic("console", None, "c1", False)
    async with Ledger(settings, purge_every_s=None) as ledger:  # a new process
        teaching = await LedgerTeaching(ledger).load()
        tutor = tutor_on(settings, ledger, teaching)
        assert (await tutor.handle(hint)).text.startswith("**Hint 2 of 3**")
        assert await teaching.channel_settings("console", None, "c1") == ("answer", False)


async def test_feedback_command_records_and_offers_the_detailed_model_on_local(settings, ledger):
    teaching = await LedgerTeaching(ledger).load()
    tutor = tutor_on(settings, ledger, teaching)
    commands = Commands(settings, tutor, tutor.registry, tutor.preferences, records=teaching)
    reply = await tutor.handle(IncomingMessage("What is a loop?", "u1", "c1"))
    down = await commands(
        CommandRequest(
            "feedback", "u1", "c1", "console", args={"vote": "down", "answer": reply.correlation_id}
        )
    )
    assert down.ok and down.actions == ("detail", "human")
    up = await commands(
        CommandRequest(
            "feedback",
            "u1",
            "c1",
            "console",
            args={"vote": "up", "answer": reply.correlation_id, "route": "cloud"},
        )
    )
    assert up.ok and up.actions == ()
    assert [v.vote for v in await queries.votes(ledger, reply.correlation_id)] == ["up"]


async def test_detail_after_a_restart_reads_the_question_from_the_ledger(settings, ledger):
    teaching = await LedgerTeaching(ledger).load()
    tutor = tutor_on(settings, ledger, teaching)
    reply = await tutor.handle(IncomingMessage("What is a loop?", "u1", "c1"))
    fresh = tutor_on(settings, ledger, teaching)  # knows nothing of the question
    fresh.registry.get("cloud")._answer = Script("A loop, in detail.")  # type: ignore[attr-defined]
    commands = Commands(settings, fresh, fresh.registry, fresh.preferences, records=teaching)
    args = {"answer": reply.correlation_id}
    other = await commands(CommandRequest("detail", "u2", "c1", "console", args=args))
    assert not other.ok
    result = await commands(CommandRequest("detail", "u1", "c1", "console", args=args))
    assert result.ok and result.text == "A loop, in detail." and not result.ephemeral
    rows = await ledger.query(
        "SELECT route, model, escalations FROM interactions WHERE correlation_id = ?",
        (f"{reply.correlation_id}-d",),
    )
    assert len(rows) == 1 and rows[0][:2] == ("cloud", "cloud")
    assert "learner-vote" in json.loads(rows[0][2])  # an escalation because of the vote


# --- instructor insight over a seeded ledger ---------------------------------------------


async def seed(ledger: Ledger) -> None:
    """Five answers, their citations, votes and two hand-offs, by hand."""
    none = (Reason(ReasonCode.RETRIEVAL_NONE),)
    rows = [
        interaction(NOW - 50, correlation_id="a1", text="what is a loop"),
        interaction(NOW - 40, correlation_id="a2", text="how do lists work"),
        cloud(NOW - 30, correlation_id="a3", text="explain recursion deeply"),
        interaction(
            NOW - 20, correlation_id="a4", reasons=none, text="mail me at x@y.com about decorators"
        ),
        interaction(NOW - 10, correlation_id="a5", reasons=none, text="what are metaclasses"),
        interaction(NOW - 9 * 86400, correlation_id="old", reasons=none, text="old gap"),
    ]
    for row in rows:
        await ledger.record(row)
    teaching = await LedgerTeaching(ledger, clock=Clock()).load()
    loops = Citation("05-loops.md", "Loops", 0.9)
    lists = Citation("04-lists.md", "Lists", 0.8)
    await teaching.cited("a1", "discord", "g1", [loops])
    await teaching.cited("a2", "discord", "g1", [lists, loops])
    await teaching.cited("a3", "discord", "g1", [loops])
    # votes: a1 down by u1 and u2 (u1 first up, then down: the latest wins), a2 up,
    # a3 (cloud) up by u1 and down by u2
    await teaching.vote("a1", "discord", "g1", "u1", "up")
    await teaching.vote("a1", "discord", "g1", "u1", "down")
    await teaching.vote("a1", "discord", "g1", "u2", "down")
    await teaching.vote("a2", "discord", "g1", "u1", "up")
    await teaching.vote("a3", "discord", "g1", "u1", "up")
    await teaching.vote("a3", "discord", "g1", "u2", "down")
    clock = Clock(NOW - 600)
    teaching = await LedgerTeaching(ledger, clock=clock).load()
    await teaching.handoff("discord", "g1", "c1", "t1", "u1", "a1", "please help")
    clock.now = NOW - 500
    await teaching.handoff("discord", "g1", "c1", "t2", "u2", None, None)
    clock.now = NOW - 300
    assert await teaching.staff_replied("discord", "g1", "t1") == 1  # waited 300 s
    assert await teaching.staff_replied("discord", "g1", "t1") == 0  # answered already


async def test_insight_figures_match_a_hand_computation(settings, ledger):
    await seed(ledger)
    found = await compute_insights(settings, ledger, NOW - 7 * 86400, NOW + 1)
    # lessons: Loops cited by a1, a2, a3 (3 answers); Lists by a2 (1)
    assert [(s, n) for s, _, n in found.lessons] == [("05-loops.md", 3), ("04-lists.md", 1)]
    # gaps: a4 and a5 found no material (the 9-day-old one is outside the week)
    assert found.gaps == 2
    assert found.gap_examples == ("what are metaclasses", "mail me at [email] about decorators")
    # votes: local a1 down, down; a2 up -> local 1 up, 2 down; cloud a3 1 up 1 down
    assert found.votes == {"local": (1, 2), "cloud": (1, 1)}
    assert (found.up, found.down) == (2, 3)
    assert found.satisfaction() == {"cloud": 0.5, "local": 1 / 3}
    # most down-voted: a1 (2 down, 0 up), then a3 (1 down, 1 up)
    assert [(q, d, u) for q, _, _, d, u in found.down_voted] == [
        ("what is a loop", 2, 0),
        ("explain recursion deeply", 1, 1),
    ]
    # hand-offs: 2 asked, 1 answered after 300 s
    assert (found.handoffs, found.handoffs_answered, found.median_wait_s) == (2, 1, 300.0)
    text = render_insights(found)
    assert "Loops (05-loops.md): 3 answers" in text and "x@y.com" not in text
    assert "**Hand-offs to staff**: 2 (1 answered, median wait 5 min)" in text


async def test_stats_json_prints_real_feedback_and_handoffs(settings, ledger):
    await seed(ledger)
    digests = Digests(settings, ledger, clock=lambda: datetime.fromtimestamp(NOW + 60, UTC))
    summary = await stats_summary(digests, "week")
    assert summary["questions"] == 5
    assert summary["by_route"] == {"local": 4, "memory": 0, "cloud": 1}
    assert summary["feedback"] == {"up": 2, "down": 3}
    assert summary["handoffs"] == 2
    assert summary["insights"]["content_gaps"]["count"] == 2
    text, _ = await digests.message(await digests.on_demand("week"), chart=False)
    assert "**What learners asked about**\n- Loops (05-loops.md): 3 answers" in text
    assert "**Feedback**: 2 up, 3 down; cloud 50% up; local 33% up" in text
    insights = await digests.insights_command(
        CommandRequest("insights", "m1", "c1", "discord", "g1", is_moderator=True), "week"
    )
    assert insights.ephemeral and "**Hand-offs to staff**: 2" in insights.text


async def test_forgetting_a_learner_deletes_their_votes_handoffs_and_hint_levels(settings, ledger):
    teaching = await LedgerTeaching(ledger).load()
    await teaching.vote("a1", "discord", "g1", "u_1", "down")
    await teaching.vote("a1", "discord", "g1", "u2", "up")
    await teaching.handoff("discord", "g1", "c1", "t1", "u_1", "a1", None)
    await teaching.set_hint_state(["discord", "g1", "c1", "t1", "u_1"], 2, "x")
    await teaching.set_hint_state(["discord", "g1", "c1", "t1", "u2"], 1, "x")
    await ledger.forget_user("discord", "g1", "u_1")
    assert [v.user for v in await queries.votes(ledger, "a1")] == ["u2"]
    assert await ledger.query("SELECT count(*) FROM handoffs") == [(0,)]
    assert await teaching.hint_state(["discord", "g1", "c1", "t1", "u_1"]) == (0, "")
    assert await teaching.hint_state(["discord", "g1", "c1", "t1", "u2"]) == (1, "x")
