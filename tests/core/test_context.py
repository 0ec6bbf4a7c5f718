"""Others' words (a thread's earlier talk, a quoted message) apart from the learner's."""

from bot.core.prompt import CONTEXT_LABEL, build_prompt
from bot.core.tutor import Tutor
from bot.events import ChatMessage, ContextLine, IncomingMessage
from bot.ledger.store import Ledger
from bot.models.registry import ModelRegistry
from bot.ports import Preferences
from tests.fakes import FakeChatModel, ListLedger, Script

CONFIDENT = "A list is an ordered, changeable collection of items written in square brackets."

# 1,500 characters of earlier talk that would escalate on every rule if it were routed:
# keywords, length, pasted code.
THREAD = (
    ContextLine("bea", "Can someone explain in detail and compare the trade-offs of " + "x" * 1000),
    ContextLine("carl", "```python\n" + "y = 2\n" * 60 + "```"),
    ContextLine("dan", "Step by step, design the architecture: mail me at dan@example.org"),
)


def tutor_for(settings):
    fakes = {
        "local": FakeChatModel("local", Script(CONFIDENT)),
        "tiny": FakeChatModel("tiny", Script(CONFIDENT)),
        "cloud": FakeChatModel("cloud", Script("A thorough cloud answer."), is_local=False),
    }
    ledger = ListLedger()
    return Tutor(settings, ModelRegistry(settings, models=fakes), ledger=ledger), fakes, ledger


def ask(text="What is a list?", user="u1", **kw):
    return IncomingMessage(text=text, user=user, channel="c1", **kw)


def test_the_thread_is_about_1500_characters():
    assert 1450 <= sum(len(line.text) for line in THREAD) <= 1550


async def test_a_question_in_a_long_thread_routes_exactly_as_the_question_alone(settings):
    tutor, fakes, _ = tutor_for(settings)
    planner = tutor.planner
    alone = await planner.plan(ask(), Preferences())
    threaded = await planner.plan(ask(context=THREAD), Preferences())
    assert threaded == alone and alone.route == "local"

    reply_alone = await tutor.handle(ask())
    reply_threaded = await tutor.handle(ask(context=THREAD, user="u2"))
    assert (reply_threaded.route, reply_threaded.model, reply_threaded.reason_texts) == (
        reply_alone.route,
        reply_alone.model,
        reply_alone.reason_texts,
    )
    assert fakes["cloud"].calls == []


async def test_the_context_reaches_the_prompt_labelled_with_its_authors(settings):
    tutor, fakes, _ = tutor_for(settings)
    await tutor.handle(ask(context=THREAD))
    turn = fakes["local"].calls[0][-1]
    assert turn.role == "user" and turn.content.startswith(CONTEXT_LABEL)
    assert "dan: Step by step, design the architecture" in turn.content
    assert turn.content.endswith("What is a list?")
    assert "dan@example.org" in turn.content  # local models see the words as written


async def test_context_bound_for_the_cloud_is_redacted(settings):
    tutor, fakes, _ = tutor_for(settings)
    reply = await tutor.handle(ask("Explain in detail how dictionaries work", context=THREAD))
    assert reply.route == "cloud" and "redacted:email" in reply.reason_texts
    sent = fakes["cloud"].calls[0][-1].content
    assert CONTEXT_LABEL in sent and "dan: " in sent
    assert "dan@example.org" not in sent and "[email]" in sent


async def test_history_and_the_ledger_keep_the_learners_words_only(settings):
    tutor, fakes, ledger = tutor_for(settings)
    await tutor.handle(ask(context=THREAD))
    await tutor.handle(ask("And tuples?"))
    history = fakes["local"].calls[1][1:-1]
    assert history == [ChatMessage("user", "What is a list?"), ChatMessage("assistant", CONFIDENT)]
    row = Ledger(settings).row(ledger.rows[0])
    assert "What is a list?" in row and not any("bea" in str(v) for v in row if v)


def test_the_oldest_context_goes_first_when_it_does_not_fit():
    context = (ContextLine("ann", "a" * 50), ContextLine("bob", "b" * 50))
    [_, turn] = build_prompt("sys", [], "q?", context=context, context_chars=60)
    assert "bob: " in turn.content and "ann: " not in turn.content
    [_, cut] = build_prompt("sys", [], "q?", context=context[1:], context_chars=20)
    assert f"\n{('bob: ' + 'b' * 50)[:20]}\n\n" in cut.content
    [_, plain] = build_prompt("sys", [], "q?", context=(ContextLine("ann", "  "),))
    assert plain.content == "q?"
