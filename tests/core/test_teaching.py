"""Teaching with fakes at the ports: exercises, hints, off-topic, feedback, hand-offs."""

import pytest

from bot.core.commands import Commands
from bot.core.exercises import code_lines, parse_lesson
from bot.core.teaching import Teacher, is_hint_request, is_off_topic
from bot.core.tutor import NO_HINT_TOPIC, Tutor
from bot.events import CommandRequest, IncomingMessage, ReasonCode
from bot.models.registry import ModelRegistry
from bot.ports import Passage
from tests.core.test_guide_mode import COURSE, ROOT
from tests.fakes import FakeChatModel, FakeRetriever, ListLedger, RecordingSink, Script

COURSE_DIR = ROOT / "course"
GRADED = """---
title: Project week
graded: true
---
# Project week

Build a `word_count(path)` function that counts the words of a file.
"""


def test_exercises_come_from_sections_front_matter_and_protected_files():
    lesson, found = parse_lesson("05-loops.md", (COURSE_DIR / "05-loops.md").read_text())
    assert lesson.title == "Loops" and [e.number for e in found] == [1, 2, 3]
    assert "Exercises" not in [heading for heading, _ in lesson.sections]
    assert lesson.examples and all("vowel" not in code for code in lesson.examples)
    _, graded = parse_lesson("project.md", GRADED)
    assert [(e.number, e.names) for e in graded] == [(0, frozenset({"word_count"}))]
    _, protected = parse_lesson("notes.md", "# Notes\n\nSort a list by hand.", protected=True)
    assert [e.label for e in protected] == ["the graded lesson “Notes”"]
    _, plain = parse_lesson("notes.md", "# Notes\n\nSort a list by hand.")
    assert plain == []


def test_code_lines_count_fences_and_code_written_as_prose():
    assert code_lines("A list holds items in order.") == 0
    assert code_lines("```python\n# comment\nx = 1\n\nprint(x)\n```") == 2
    assert code_lines("def f(n):\n    return n\nfor i in range(3):\n    print(i)") == 4


@pytest.mark.parametrize("text", ["hint", "Hint!", "another hint", "/hint", "can I get a hint?"])
def test_hint_requests(text):
    assert is_hint_request(text)


@pytest.mark.parametrize("text", ["what is a hint?", "hints about loops", "thanks"])
def test_not_hint_requests(text):
    assert not is_hint_request(text)


def test_off_topic_is_nothing_about_the_course_or_programming():
    vocabulary = COURSE.vocabulary()
    assert is_off_topic("what's the weather like in Paris tomorrow?", [], vocabulary)
    assert not is_off_topic("why does my loop never stop?", [], vocabulary)
    assert not is_off_topic("what is x[0]?", [], vocabulary)
    assert not is_off_topic("tell me about palindromes", [], vocabulary)
    passage = Passage("text", "05-loops.md", "Loops", 0.9)
    assert not is_off_topic("what's the weather like?", [passage], vocabulary)


def make(settings, local=None, retriever=None):
    fakes = {
        "local": local or FakeChatModel("local", Script("A loop repeats code.")),
        "tiny": FakeChatModel("tiny"),
        "cloud": FakeChatModel("cloud", is_local=False),
    }
    registry = ModelRegistry(settings, models=fakes)
    tutor = Tutor(
        settings,
        registry,
        retriever=retriever,
        ledger=ListLedger(),
        teacher=Teacher(settings.teaching, COURSE),
    )
    return tutor, fakes


def msg(text, user="u1", channel="c1", **kw):
    return IncomingMessage(text=text, user=user, channel=channel, **kw)


async def test_the_hint_ladder_climbs_one_level_per_request_and_says_where_it_is(settings):
    tutor, fakes = make(settings)
    await tutor.handle(msg("How do I count the vowels in a sentence?"))
    calls = len(fakes["local"].calls)
    first = await tutor.handle(msg("hint"))
    second = await tutor.handle(msg("another hint"))
    third = await tutor.handle(msg("hint"))
    again = await tutor.handle(msg("hint"))
    assert first.text.startswith("**Hint 1 of 3**") and "vowels in a sentence" in first.text
    assert second.text.startswith("**Hint 2 of 3**") and "Loops" in second.text
    assert third.text.startswith("**Hint 3 of 3**") and "```python" in third.text
    assert "vowel" not in third.text.split("```python")[1]  # a similar problem, not the exercise
    assert again.text.startswith("**Hint 3 of 3**")
    assert len(fakes["local"].calls) == calls  # hints never call a model
    assert [r.code for r in second.reasons][-1] is ReasonCode.HINT
    # A new question starts the ladder again.
    await tutor.handle(msg("Write a function that tells whether a number is even"))
    assert (await tutor.handle(msg("hint"))).text.startswith("**Hint 1 of 3**")


async def test_hint_levels_are_per_conversation(settings):
    tutor, _ = make(settings)
    await tutor.handle(msg("How do I count the vowels in a sentence?", conversation="t1"))
    await tutor.handle(msg("hint", conversation="t1"))
    await tutor.handle(msg("How do I count the vowels in a sentence?", conversation="t2"))
    assert (await tutor.handle(msg("hint", conversation="t2"))).text.startswith("**Hint 1 of 3")
    assert (await tutor.handle(msg("hint", conversation="t1"))).text.startswith("**Hint 2 of 3")


async def test_a_hint_before_any_question_asks_for_the_question(settings):
    tutor, _ = make(settings)
    sink = RecordingSink()
    reply = await tutor.handle(msg("hint"), sink)
    assert reply.text == NO_HINT_TOPIC == "".join(sink.deltas)


async def test_off_topic_gets_the_configured_redirect_and_no_model(settings):
    teaching = settings.teaching.model_copy(update={"off_topic_text": "Back to Python!"})
    settings = settings.model_copy(update={"teaching": teaching})
    tutor, fakes = make(settings, retriever=FakeRetriever([]))
    reply = await tutor.handle(msg("Who won the football match yesterday?"))
    assert reply.text == "Back to Python!"
    assert reply.route == "local" and reply.usage.cost_usd == 0.0
    assert [r.code for r in reply.reasons][-1] is ReasonCode.OFF_TOPIC
    assert all(not m.calls for m in fakes.values())
    on_topic = await tutor.handle(msg("Why does my while loop never stop?"))
    assert on_topic.text == "A loop repeats code."


async def test_moderators_turn_the_redirect_off_per_channel(settings):
    tutor, fakes = make(settings, retriever=FakeRetriever([]))
    commands = Commands(settings, tutor, tutor.registry, tutor.preferences)
    refused = await commands(
        CommandRequest("offtopic", "u1", "c1", "console", args={"mode": "off"})
    )
    assert not refused.ok
    done = await commands(
        CommandRequest("offtopic", "m1", "c1", "console", args={"mode": "off"}, is_moderator=True)
    )
    assert done.ok
    reply = await tutor.handle(msg("Who won the football match yesterday?"))
    assert reply.text == "A loop repeats code." and fakes["local"].calls


async def test_mode_command_is_for_moderators_and_persists_per_channel(settings):
    tutor, _ = make(settings)
    commands = Commands(settings, tutor, tutor.registry, tutor.preferences)
    req = CommandRequest("mode", "u1", "c1", "discord", "g1", args={"mode": "answer"})
    assert not (await commands(req)).ok
    moderator = CommandRequest(
        "mode", "m1", "c1", "discord", "g1", args={"mode": "answer"}, is_moderator=True
    )
    assert (await commands(moderator)).ok
    assert await tutor.teaching.channel_settings("discord", "g1", "c1") == ("answer", None)
    shown = CommandRequest("mode", "m1", "c1", "discord", "g1", is_moderator=True)
    assert "`answer`" in (await commands(shown)).text
    bad = CommandRequest("mode", "m1", "c1", "discord", "g1", {"mode": "lax"}, True)
    assert not (await commands(bad)).ok
    reply = await tutor.handle(
        msg("What is a loop?", channel="c1", platform="discord", workspace="g1")
    )
    assert reply.mode == "answer"


async def test_a_slash_hint_outside_the_conversation_follows_the_last_question(settings):
    tutor, _ = make(settings)
    await tutor.handle(msg("How do I count the vowels in a sentence?", conversation="chain"))
    first = await tutor.handle(msg("hint", conversation="slash-1"))
    second = await tutor.handle(msg("hint", conversation="slash-2"))
    assert first.text.startswith("**Hint 1 of 3**") and "vowels" in first.text
    assert second.text.startswith("**Hint 2 of 3**")


def test_questions_that_may_concern_an_exercise_are_told_apart(settings):
    teacher = Teacher(settings.teaching, COURSE)
    assert teacher.may_concern_exercise(["How do I solve exercise 2 of the loops lesson?"])
    assert teacher.may_concern_exercise(["What is a list?", "and the homework for this?"])
    assert not teacher.may_concern_exercise(["What is a list?"])
