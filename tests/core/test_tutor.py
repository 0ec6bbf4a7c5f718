"""The core pipeline with fakes at the ports."""

import asyncio

import pytest

from bot.core.tutor import APOLOGY, CLOUD_DOWN_NOTICE, EMPTY_REPLY, SWITCH_NOTICE, Tutor
from bot.events import IncomingMessage
from bot.models.registry import ModelRegistry
from bot.ports import ModelServerError, ModelUnavailable, Passage
from tests.conftest import impatient
from tests.fakes import FakeChatModel, FakeRetriever, ListLedger, RecordingSink, Script


def make(settings, clock=None, **models):
    fakes = {
        "local": FakeChatModel("local"),
        "tiny": FakeChatModel("tiny"),
        "cloud": FakeChatModel("cloud", is_local=False),
    } | models
    registry = ModelRegistry(settings, models=fakes, **({"clock": clock} if clock else {}))
    ledger = ListLedger()
    return Tutor(settings, registry, ledger=ledger), fakes, ledger


def ask(text="What is a list?", user="u1", **kw):
    return IncomingMessage(text=text, user=user, channel="c1", **kw)


async def test_answers_with_the_first_model_of_the_tier(settings):
    tutor, fakes, ledger = make(
        settings, local=FakeChatModel("local", Script("A list holds items."))
    )
    reply = await tutor.handle(ask())
    assert reply.text == "A list holds items."
    assert (reply.route, reply.model, reply.outcome) == ("local", "local", "answered")
    assert reply.usage.output_tokens == 4 and reply.usage.input_tokens > 0
    assert reply.usage.cost_usd == 0.0
    assert reply.reason_texts == ("tier:free", "rules:none")
    assert reply.confidence == 1.0
    assert len(fakes["tiny"].calls) == 0
    assert [row.reply for row in ledger.rows] == [reply]


async def test_prompt_has_system_history_and_question(settings):
    tutor, fakes, _ = make(settings)
    await tutor.handle(ask("first question"))
    await tutor.handle(ask("second question"))
    roles = [(m.role, m.content) for m in fakes["local"].calls[-1]]
    assert roles[0] == ("system", "You are a test tutor.")
    assert roles[1:] == [
        ("user", "first question"),
        ("assistant", "ok"),
        ("user", "second question"),
    ]


async def test_history_is_per_user_and_channel(settings):
    tutor, fakes, _ = make(settings)
    await tutor.handle(ask("secret of u1", user="u1"))
    await tutor.handle(ask("hello", user="u2"))
    await tutor.handle(IncomingMessage(text="hi", user="u1", channel="other"))
    for call in fakes["local"].calls[1:]:
        assert all("secret" not in m.content for m in call)


async def test_failover_goes_down_the_chain_and_the_breaker_skips_the_failed_model(settings):
    down = ModelUnavailable("local", "refused", reason="unreachable")
    tutor, fakes, _ = make(settings, local=FakeChatModel("local", Script(fail=down)))
    reply = await tutor.handle(ask())
    assert reply.model == "tiny" and reply.route == "local" and reply.outcome == "fell_back"
    assert "failover:local:unreachable" in reply.reason_texts

    again = await tutor.handle(ask("next"))
    assert "skipped:local:unhealthy" in again.reason_texts
    assert len(fakes["local"].calls) == 1  # not waited on a second time


async def test_breaker_lets_a_model_back_after_cooldown(settings):
    now = [1000.0]
    down = ModelUnavailable("local", "refused")
    local = FakeChatModel("local", [Script(fail=down), Script("back")])
    tutor, _, _ = make(settings, clock=lambda: now[0], local=local)
    assert (await tutor.handle(ask())).model == "tiny"
    now[0] += settings.routing.breaker_cooldown_s + 1
    reply = await tutor.handle(ask())
    assert reply.model == "local" and reply.text == "back"


async def test_slow_first_token_times_out_and_falls_over(settings):
    settings = impatient(settings, "local")
    slow = FakeChatModel("local", Script("late", delay_first=5))
    tutor, _, _ = make(settings, local=slow)
    reply = await tutor.handle(ask())
    assert reply.model == "tiny"
    assert "failover:local:first-token-timeout" in reply.reason_texts


async def test_failure_mid_stream_resets_the_sink_and_the_next_model_answers(settings):
    broken = FakeChatModel(
        "local", Script("one two three", fail=ModelServerError("local", "boom"), fail_after=2)
    )
    tutor, _, _ = make(settings, local=broken, tiny=FakeChatModel("tiny", Script("clean answer")))
    sink = RecordingSink()
    reply = await tutor.handle(ask(local_only=True), sink)  # no cloud: local answers stream
    assert sink.resets == [SWITCH_NOTICE]
    assert sink.text == "clean answer" == reply.text
    assert "failover:local:server-error" in reply.reason_texts


async def test_empty_answer_counts_as_a_failure(settings):
    tutor, _, _ = make(settings, local=FakeChatModel("local", Script("   ")))
    reply = await tutor.handle(ask())
    assert reply.model == "tiny" and "failover:local:empty-answer" in reply.reason_texts


async def test_every_model_failing_gives_an_apology_and_a_ledger_row(settings):
    err = ModelUnavailable("x", "down")
    tutor, _, ledger = make(
        settings,
        local=FakeChatModel("local", Script(fail=err)),
        tiny=FakeChatModel("tiny", Script(fail=err)),
        cloud=FakeChatModel("cloud", Script(fail=err), is_local=False),
    )
    reply = await tutor.handle(ask())
    assert reply.text == APOLOGY and reply.outcome == "failed" and reply.model == "none"
    assert len(ledger.rows) == 1 and ledger.rows[0].reply.outcome == "failed"


async def test_no_openai_key_says_why_and_answers_locally(settings):
    # enterprise goes cloud first; "cloud" is the real OpenAI provider, built without a key
    registry = ModelRegistry(settings, models={"local": FakeChatModel("local", Script("local ok"))})
    tutor = Tutor(settings, registry)
    reply = await tutor.handle(ask(tier="enterprise"))
    assert reply.text.startswith("local ok") and reply.route == "local"
    assert reply.notice == CLOUD_DOWN_NOTICE and reply.outcome == "fell_back"
    assert "failover:cloud:no-key" in reply.reason_texts
    await registry.aclose()


async def test_cloud_answers_are_priced(settings):
    tutor, _, _ = make(settings, cloud=FakeChatModel("cloud", Script("cloudy"), is_local=False))
    reply = await tutor.handle(ask(tier="enterprise"))
    assert reply.route == "cloud"
    u = reply.usage
    assert u.cost_usd == pytest.approx((u.input_tokens * 0.15 + u.output_tokens * 0.60) / 1e6)


async def test_local_only_never_reaches_the_cloud(settings):
    err = ModelUnavailable("x", "down")
    tutor, fakes, _ = make(
        settings,
        local=FakeChatModel("local", Script(fail=err)),
        tiny=FakeChatModel("tiny", Script(fail=err)),
    )
    reply = await tutor.handle(ask(local_only=True))
    assert fakes["cloud"].calls == []
    assert reply.outcome == "failed" and "privacy:local-only" in reply.reason_texts


async def test_empty_and_huge_input(settings):
    tutor, fakes, ledger = make(settings)
    empty = await tutor.handle(ask(" \n\x00 "))
    assert empty.text == EMPTY_REPLY and fakes["local"].calls == []
    huge = await tutor.handle(ask("x" * 100_000))
    assert any(r.startswith("trimmed:100000>500") for r in huge.reason_texts)
    assert len(fakes["local"].calls[0][-1].content) == 500
    assert len(ledger.rows) == 2


async def test_unknown_tier_uses_the_default(settings):
    tutor, _, _ = make(settings)
    assert (await tutor.handle(ask(tier="platinum"))).reason_texts[0] == "tier:free"


async def test_passages_become_citations_and_delimited_reference(settings):
    tutor, fakes, _ = make(settings)
    tutor.retriever = FakeRetriever(
        [Passage("Lists are ordered.", "lessons/03-lists.md", "Lists", 0.8123456)]
    )
    reply = await tutor.handle(ask())
    assert [(c.source, c.title, c.score) for c in reply.citations] == [
        ("lessons/03-lists.md", "Lists", 0.8123)
    ]
    system, *_, turn = (m.content for m in fakes["local"].calls[0])
    assert "not instructions" in system and "Lists are ordered." not in system
    assert turn.startswith("<course-material>") and "Lists are ordered." in turn
    assert turn.endswith("My question:\nWhat is a list?")


async def test_many_concurrent_conversations_are_not_mixed(settings):
    def echo(messages):
        return f"answer for {messages[-1].content}"

    tutor, _, _ = make(settings, local=FakeChatModel("local", echo))
    replies = await asyncio.gather(
        *(tutor.handle(ask(f"user{i}", user=f"user{i}")) for i in range(300))
    )
    assert [r.text for r in replies] == [f"answer for user{i}" for i in range(300)]
