"""Guide mode: no complete exercise solution gets through, whatever the model wrote."""

from pathlib import Path

import pytest

from bot.config import load_config
from bot.core.exercises import build_course, code_lines
from bot.core.teaching import Teacher
from bot.core.tutor import WITHHELD_NOTICE, Tutor
from bot.events import IncomingMessage, ReasonCode
from bot.models.registry import ModelRegistry
from tests.conftest import write_config
from tests.core.guide_attempts import ATTEMPTS, Attempt
from tests.fakes import FakeChatModel, RecordingSink, Script
from tests.loopback.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[2]
COURSE = build_course(
    (p.name, p.read_text(encoding="utf-8"), False) for p in sorted((ROOT / "course").glob("*.md"))
)

CLOUD_CONFIG = """
[tutor]
system_prompt = "You are a test tutor."
max_input_chars = 500
history_turns = 0  # the guard keeps its own memory of the conversation

[models.cloud]
provider = "openai"
model = "gpt-4o-mini"
base_url = "{url}"
first_token_timeout_s = 60.0
timeout_s = 120.0

[models.tiny]
provider = "embedded"
model = "smollm2-135m"
max_tokens = 48
first_token_timeout_s = 120.0
timeout_s = 300.0

[tiers.free]
chain = ["cloud"]
router = {{ cloud_first = true }}

[tiers.embedded]
chain = ["tiny"]

[routing]
default_tier = "free"

[router]
classifier = "off"
"""


def settings_for(tmp_path, url="http://127.0.0.1:9/v1"):
    path = write_config(tmp_path, CLOUD_CONFIG.format(url=url))
    return load_config(path, {"OPENAI_API_KEY": "sk-test"})


async def converse(tutor: Tutor, attempt: Attempt, user: str, set_answer=None, tier=None):
    """Every learner turn of one attempt; what the learner saw, and the replies."""
    shown, replies = [], []
    for i, turn in enumerate(attempt.turns):
        if set_answer is not None:
            set_answer(attempt.pieces[i] if attempt.pieces else attempt.solution)
        sink = RecordingSink()
        reply = await tutor.handle(
            IncomingMessage(turn, user=user, channel="course", tier=tier), sink
        )
        shown += [reply.text, "".join(sink.deltas)]
        replies.append(reply)
    return "\n".join(shown), replies


def test_the_attempt_set_is_large_and_about_the_shipped_course():
    assert len(ATTEMPTS) >= 30
    assert sum(1 for a in ATTEMPTS if a.pieces) >= 3
    for attempt in ATTEMPTS:
        assert attempt.marker in (attempt.solution if not attempt.pieces else attempt.pieces[-1])


async def test_a_cloud_that_always_gives_the_solution_never_gets_one_through(tmp_path):
    async with OpenAIServer() as server:
        settings = settings_for(tmp_path, server.base_url)
        registry = ModelRegistry(settings)
        tutor = Tutor(settings, registry, teacher=Teacher(settings.teaching, COURSE))

        def answer_with(text: str) -> None:
            server.behaviour.text = text

        try:
            for n, attempt in enumerate(ATTEMPTS):
                shown, replies = await converse(tutor, attempt, f"learner{n}", answer_with)
                assert attempt.marker not in shown, attempt.turns
                assert all(r.route == "cloud" for r in replies)
                assert any(r.code is ReasonCode.SOLUTION_WITHHELD for r in replies[-1].reasons), (
                    attempt.turns
                )
                assert code_lines(replies[-1].text) == 0
                assert replies[-1].mode == "guide"
        finally:
            await registry.aclose()
        assert len(server.requests) == sum(len(a.turns) for a in ATTEMPTS)


async def test_answer_mode_gives_the_solution(tmp_path):
    async with OpenAIServer() as server:
        settings = settings_for(tmp_path, server.base_url)
        registry = ModelRegistry(settings)
        tutor = Tutor(settings, registry, teacher=Teacher(settings.teaching, COURSE))
        server.behaviour.text = ATTEMPTS[2].solution
        try:
            reply = await tutor.handle(
                IncomingMessage(ATTEMPTS[2].turns[0], user="u", channel="c", mode="answer")
            )
            await tutor.teaching.set_channel_mode("console", None, "open", "answer")
            by_channel = await tutor.handle(
                IncomingMessage(ATTEMPTS[2].turns[0], user="u", channel="open")
            )
        finally:
            await registry.aclose()
    assert ATTEMPTS[2].marker in reply.text and reply.mode == "answer"
    assert ATTEMPTS[2].marker in by_channel.text and by_channel.mode == "answer"


@pytest.mark.embedded
@pytest.mark.timeout(1800)  # 38 generations on a shared CPU; the timeout only catches hangs
async def test_the_embedded_model_gives_no_complete_solution_either(tmp_path):
    pytest.importorskip("llama_cpp", reason="the embedded extra is not installed")
    settings = settings_for(tmp_path)
    registry = ModelRegistry(settings)
    teacher = Teacher(settings.teaching, COURSE)
    tutor = Tutor(settings, registry, teacher=teacher)
    try:
        for n, attempt in enumerate(ATTEMPTS):
            shown, replies = await converse(tutor, attempt, f"learner{n}", tier="embedded")
            assert attempt.marker not in shown
            for i, reply in enumerate(replies):
                assert reply.model == "tiny" or reply.outcome == "failed"
                assert teacher.check(attempt.turns[: i + 1], reply.text).allowed, reply.text
    finally:
        await registry.aclose()


async def test_a_streamed_solution_is_taken_back_and_replaced(settings):
    """A question that did not look like an exercise streams; the guard still acts."""
    solution = ATTEMPTS[2].solution  # defines is_even
    fakes = {
        "local": FakeChatModel("local", Script(solution)),
        "tiny": FakeChatModel("tiny"),
        "cloud": FakeChatModel("cloud", is_local=False),
    }
    tutor = Tutor(
        settings, ModelRegistry(settings, models=fakes), teacher=Teacher(settings.teaching, COURSE)
    )
    sink = RecordingSink()
    reply = await tutor.handle(
        IncomingMessage("how do I write a function with def?", "u", "c", local_only=True), sink
    )
    assert "return n % 2 == 0" not in reply.text
    assert sink.resets == [WITHHELD_NOTICE]
    assert "return n % 2 == 0" not in "".join(sink.deltas)
    assert reply.reasons[-1].code is ReasonCode.SOLUTION_WITHHELD


async def test_a_short_example_that_is_no_exercise_passes(settings):
    example = "```python\nfor fruit in ['apple', 'pear']:\n    print(fruit)\n```"
    fakes = {
        "local": FakeChatModel("local", Script(example)),
        "tiny": FakeChatModel("tiny"),
        "cloud": FakeChatModel("cloud", is_local=False),
    }
    tutor = Tutor(
        settings, ModelRegistry(settings, models=fakes), teacher=Teacher(settings.teaching, COURSE)
    )
    reply = await tutor.handle(IncomingMessage("how does a for loop work?", "u", "c"))
    assert reply.text == example
    assert not any(r.code is ReasonCode.SOLUTION_WITHHELD for r in reply.reasons)
