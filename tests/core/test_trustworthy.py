"""What a learner reads when the local model is weak: the course's words, never a loop."""

import pydoc_data.topics
from dataclasses import dataclass

from bot.core.tutor import APOLOGY, COURSE_MODEL, Tutor
from bot.events import IncomingMessage
from bot.models.registry import ModelRegistry
from bot.ports import ModelServerError, Passage
from tests.fakes import FakeChatModel, FakeRetriever, ListLedger, RecordingSink, Script, texts

LISTS = Passage(
    "A list is an ordered collection written with square brackets, such as [1, 2, 3]. "
    "Lists are mutable: append() adds an item at the end.",
    "04-lists.md",
    "Lesson 4: Lists",
    0.8,
)


@dataclass(frozen=True)
class Found:
    text: str
    passages: tuple[Passage, ...]
    kind: str


class NavigatingRetriever(FakeRetriever):
    def __init__(self, passages: list[Passage], found: Found | None) -> None:
        super().__init__(passages)
        self.found = found
        self.asked: list[tuple[str, list[str]]] = []

    async def navigate(self, question: str, recent=()) -> Found | None:
        self.asked.append((question, list(recent)))
        return self.found


def make(settings, passages=(LISTS,), found=None, **models):
    fakes = {
        "local": FakeChatModel("local"),
        "tiny": FakeChatModel("tiny"),
        "cloud": FakeChatModel("cloud", is_local=False),
    } | models
    tutor = Tutor(
        settings,
        ModelRegistry(settings, models=fakes),
        retriever=NavigatingRetriever(list(passages), found),
        ledger=ListLedger(),
    )
    return tutor, fakes


def ask(text="What is a list?", **kw):
    # local_only: no cloud model may take over, as on the zero-setup default
    return IncomingMessage(text=text, user="u1", channel="c1", local_only=True, **kw)


async def test_navigation_is_answered_from_the_course_without_a_model(settings):
    found = Found("Lesson 4: Lists is about this: ordered collections.", (LISTS,), "about")
    tutor, fakes = make(settings, found=found)
    sink = RecordingSink()
    reply = await tutor.handle(ask("What is lesson 4 about?"), sink)
    assert reply.text == found.text and sink.text == found.text
    assert reply.model == COURSE_MODEL and reply.route == "local" and reply.usage.cost_usd == 0
    assert [c.source for c in reply.citations] == ["04-lists.md"]
    assert "course:navigation(about)" in texts(reply.reasons)
    assert not fakes["local"].calls and not fakes["cloud"].calls


async def test_what_comes_next_knows_the_conversation(settings):
    tutor, _ = make(settings, found=None)
    await tutor.handle(ask("What is a list?"))
    await tutor.handle(ask("what's next?"))
    assert tutor.retriever.asked[-1] == ("what's next?", ["What is a list?"])


async def test_a_weak_local_answer_gives_the_course_own_words(settings):
    made_up = Script("I am not sure, maybe a list is a kind of fruit salad recipe.")
    tutor, _ = make(settings, local=FakeChatModel("local", made_up))
    sink = RecordingSink()
    reply = await tutor.handle(ask(), sink)
    assert reply.text.startswith("Here is what the course says about")
    assert "square brackets" in reply.text and "04-lists.md" in reply.text
    assert reply.model == COURSE_MODEL and reply.outcome == "fell_back"
    assert "course:quote" in texts(reply.reasons)
    assert sink.text == reply.text  # what was streamed first is replaced, not appended to


async def test_an_answer_unrelated_to_the_passages_counts_as_ungrounded(settings):
    tutor, _ = make(settings, local=FakeChatModel("local", Script("Bananas grow on tall trees.")))
    reply = await tutor.handle(ask())
    assert any(t.startswith("answer:ungrounded(") for t in texts(reply.reasons))


async def test_a_grounded_answer_stands(settings):
    good = Script("A list is an ordered collection in square brackets; append() adds items.")
    tutor, _ = make(settings, local=FakeChatModel("local", good))
    reply = await tutor.handle(ask())
    assert reply.text == good.text and reply.model == "local"
    assert not any("ungrounded" in t for t in texts(reply.reasons))


async def test_every_model_down_with_course_material_quotes_instead_of_apologising(settings):
    down = Script(fail=ModelServerError("x", "boom"))
    tutor, _ = make(settings, local=FakeChatModel("local", down), tiny=FakeChatModel("tiny", down))
    reply = await tutor.handle(ask())
    assert reply.text != APOLOGY and "square brackets" in reply.text


async def test_the_apology_is_only_for_no_model_and_no_material(settings):
    down = Script(fail=ModelServerError("x", "boom"))
    tutor, _ = make(
        settings, passages=(), local=FakeChatModel("local", down), tiny=FakeChatModel("tiny", down)
    )
    reply = await tutor.handle(ask())
    assert reply.text == APOLOGY and reply.outcome == "failed"


async def test_a_looping_stream_is_stopped_early_and_not_shown(settings):
    loop = Script("A list holds a list of lists. " + "A list of lists of lists. " * 80)
    model = FakeChatModel("local", loop)
    tutor, _ = make(settings, local=model)
    sink = RecordingSink()
    reply = await tutor.handle(ask(), sink)
    assert any(t.startswith("answer:loop-stopped(") for t in texts(reply.reasons))
    assert reply.model == COURSE_MODEL and "lists of lists of lists" not in sink.text


async def test_a_long_answer_is_cut_at_a_sentence_unless_detail_was_asked(settings):
    long = pydoc_data.topics.topics["import"]  # real prose, 8,800 characters, no loop
    tutor, _ = make(settings, passages=(), local=FakeChatModel("local", Script(long)))
    sink = RecordingSink()
    reply = await tutor.handle(ask(), sink)
    limit = settings.tutor.max_reply_chars
    assert len(reply.text) <= limit and reply.text.endswith((".", "…"))
    assert sink.text == reply.text
    assert any(t.startswith("answer:cut(") for t in texts(reply.reasons))
    detailed = await tutor.handle(ask("Give me a thorough answer: what is a list?"))
    assert len(detailed.text) > limit


def quoting_first(settings):
    """``settings`` with the local models marked quote_first (as the shipped embedded one)."""
    marked = {
        name: settings.models[name].model_copy(update={"quote_first": True})
        for name in ("local", "tiny")
    }
    return settings.model_copy(update={"models": {**settings.models, **marked}})


async def test_a_quote_first_model_is_not_asked_when_the_course_has_a_quote(settings):
    tutor, fakes = make(quoting_first(settings))
    sink = RecordingSink()
    reply = await tutor.handle(ask(), sink)
    assert not fakes["local"].calls and not fakes["tiny"].calls
    assert reply.model == COURSE_MODEL and "square brackets" in reply.text
    assert {"course:quote-first(tiny)", "course:quote"} <= set(texts(reply.reasons))
    assert sink.text == reply.text


async def test_a_quote_first_model_still_answers_what_the_course_has_nothing_on(settings):
    answer = Script("A list is an ordered collection; append() adds an item.")
    local, tiny = FakeChatModel("local", answer), FakeChatModel("tiny", answer)
    tutor, _ = make(quoting_first(settings), passages=(), local=local, tiny=tiny)
    reply = await tutor.handle(ask())
    assert reply.text == answer.text and reply.model in ("local", "tiny")
    assert local.calls or tiny.calls
