"""Local answers stream unless a cloud model can really take over from them."""

from bot.config import load_config
from bot.core.tutor import CLOUD_DOWN_NOTICE, HOLDING_NOTE, SWITCH_NOTICE, Tutor
from bot.events import IncomingMessage
from bot.models.registry import ModelRegistry
from bot.ports import ModelServerError
from tests.conftest import TEST_CONFIG, write_config
from tests.fakes import FakeChatModel, RecordingSink, Script

CONFIDENT = "A list is an ordered, changeable collection of items written in square brackets."
SURE = Script(CONFIDENT)
SHAKY = Script(CONFIDENT, logprobs=(-3.0,) * 10)


class ProgressSink(RecordingSink):
    def __init__(self) -> None:
        super().__init__()
        self.notes: list[str] = []

    async def progress(self, note: str) -> None:
        self.notes.append(note)


def build(settings, local=SURE, cloud=None):
    """A tutor whose "cloud" model is a fake when given, else the real one from config."""
    fakes = {"local": FakeChatModel("local", local), "tiny": FakeChatModel("tiny", local)}
    if cloud is not None:
        fakes["cloud"] = FakeChatModel("cloud", cloud, is_local=False)
    registry = ModelRegistry(settings, models=fakes)
    return Tutor(settings, registry), registry


def ask(text="What is a list?", **kw):
    return IncomingMessage(text=text, user="u1", channel="c1", **kw)


async def test_with_no_cloud_key_a_local_answer_streams_as_it_is_generated(settings):
    tutor, registry = build(settings)  # the free tier names "cloud", but there is no key
    assert not registry.is_configured("cloud")
    sink = ProgressSink()
    reply = await tutor.handle(ask(), sink)
    assert reply.route == "local" and reply.text == CONFIDENT
    assert len(sink.deltas) > 5 and sink.text == CONFIDENT
    assert sink.notes == [] and sink.resets == []
    await registry.aclose()


async def test_a_cloud_that_can_take_over_holds_the_local_answer_and_shows_progress(settings):
    tutor, _ = build(settings, cloud=Script("A thorough cloud answer."))
    sink = ProgressSink()
    reply = await tutor.handle(ask(), sink)
    assert reply.route == "local" and sink.deltas == [CONFIDENT]
    assert sink.notes == [HOLDING_NOTE]


async def test_a_key_in_the_environment_is_enough_to_hold(tmp_path):
    settings = load_config(write_config(tmp_path, TEST_CONFIG), {"OPENAI_API_KEY": "sk-test"})
    tutor, registry = build(settings)  # confident: the real cloud client is never called
    assert registry.is_configured("cloud")
    sink = ProgressSink()
    await tutor.handle(ask(), sink)
    assert sink.deltas == [CONFIDENT] and sink.notes == [HOLDING_NOTE]
    await registry.aclose()


async def test_an_open_breaker_budget_or_privacy_means_streaming(settings):
    tutor, registry = build(settings, cloud=Script("A thorough cloud answer."))
    registry.record_failure("cloud", ModelServerError("cloud", "HTTP 500"))
    sink = ProgressSink()
    await tutor.handle(ask(), sink)
    assert len(sink.deltas) > 5 and sink.notes == []

    tutor, _ = build(settings, cloud=Script("A thorough cloud answer."))
    private = ProgressSink()
    await tutor.handle(ask(local_only=True), private)
    assert len(private.deltas) > 5 and private.notes == []


async def test_a_sink_without_the_progress_hook_still_gets_the_held_answer(settings):
    tutor, _ = build(settings, cloud=Script("A thorough cloud answer."))
    sink = RecordingSink()
    await tutor.handle(ask(), sink)
    assert sink.deltas == [CONFIDENT]


async def test_a_weak_streamed_answer_without_a_key_gets_the_notice(settings):
    tutor, registry = build(settings, local=SHAKY)
    sink = ProgressSink()
    reply = await tutor.handle(ask(), sink)
    assert reply.route == "local" and reply.notice == CLOUD_DOWN_NOTICE
    assert "failover:cloud:no-key" in reply.reason_texts
    assert sink.text == reply.text and sink.resets == []
    await registry.aclose()


async def test_a_cloud_back_from_its_breaker_replaces_a_streamed_weak_answer(settings):
    tutor, registry = build(settings, local=SHAKY, cloud=Script("A thorough cloud answer."))
    registry.record_failure("cloud", ModelServerError("cloud", "HTTP 500"))
    sink = ProgressSink()
    reply = await tutor.handle(ask(), sink)
    assert reply.route == "cloud" and reply.text == "A thorough cloud answer."
    assert sink.resets == [SWITCH_NOTICE] and sink.deltas == [reply.text]
