"""Routing through the Tutor: escalation, failover, budgets, sticky, privacy, redaction."""

import pytest

from bot.config import load_config
from bot.core.tutor import CLOUD_DOWN_NOTICE, Tutor
from bot.events import IncomingMessage
from bot.models.registry import ModelRegistry
from bot.ports import ModelRateLimited, ModelServerError
from tests.conftest import TEST_CONFIG, impatient, write_config
from tests.fakes import FakeChatModel, ListLedger, RecordingSink, Script

CONFIDENT = "A list is an ordered, changeable collection of items written in square brackets."


def build(settings, local=None, cloud=None, notify=None, clock=None):
    fakes = {
        "local": local or FakeChatModel("local", Script(CONFIDENT)),
        "tiny": FakeChatModel("tiny", Script(CONFIDENT)),
        "cloud": cloud
        or FakeChatModel("cloud", Script("A thorough cloud answer."), is_local=False),
    }
    ledger = ListLedger()
    kwargs = {"notify": notify} if notify else {}
    if clock:
        kwargs["clock"] = clock
    tutor = Tutor(settings, ModelRegistry(settings, models=fakes), ledger=ledger, **kwargs)
    return tutor, fakes, ledger


def ask(text="What is a list?", user="u1", channel="c1", conversation=None, **kw):
    return IncomingMessage(text=text, user=user, channel=channel, conversation=conversation, **kw)


async def test_rules_send_hard_questions_to_the_cloud_and_stream_them(settings):
    tutor, fakes, _ = build(settings)
    sink = RecordingSink()
    reply = await tutor.handle(ask("Explain in detail how dictionaries work"), sink)
    assert reply.route == "cloud" and "keyword:explain in detail" in reply.reason_texts
    assert fakes["local"].calls == [] and sink.text == reply.text
    assert reply.confidence is None


async def test_low_confidence_escalates_and_the_learner_sees_only_the_cloud_answer(settings):
    shaky = FakeChatModel("local", Script(CONFIDENT, logprobs=(-3.0,) * 10))
    tutor, fakes, _ = build(settings, local=shaky)
    sink = RecordingSink()
    reply = await tutor.handle(ask(), sink)
    assert reply.route == "cloud" and reply.text == "A thorough cloud answer."
    assert sink.text == reply.text and sink.resets == []  # the local answer was never shown
    assert any(r.startswith("confidence:") and "<0.45" in r for r in reply.reason_texts)
    assert len(fakes["local"].calls) == 1 and reply.outcome == "answered"


async def test_confident_local_answers_are_released_once(settings):
    tutor, fakes, _ = build(settings)
    sink = RecordingSink()
    reply = await tutor.handle(ask(), sink)
    assert reply.route == "local" and sink.deltas == [CONFIDENT] and fakes["cloud"].calls == []


@pytest.mark.parametrize(
    "error",
    [ModelRateLimited("cloud", "429", retry_after=3), ModelServerError("cloud", "HTTP 500")],
)
async def test_cloud_failure_gives_the_best_local_answer_with_a_notice(settings, error):
    shaky = FakeChatModel("local", Script(CONFIDENT, logprobs=(-3.0,) * 10))
    down = FakeChatModel("cloud", Script(fail=error), is_local=False)
    tutor, _, ledger = build(settings, local=shaky, cloud=down)
    sink = RecordingSink()
    reply = await tutor.handle(ask(), sink)
    assert reply.route == "local" and reply.notice == CLOUD_DOWN_NOTICE
    assert reply.text.startswith(CONFIDENT) and sink.text == reply.text
    assert reply.outcome == "fell_back" and reply.confidence < 0.45
    assert f"failover:cloud:{error.reason}" in reply.reason_texts
    assert ledger.rows[-1].reply == reply


async def test_cloud_timeout_on_a_hard_question_falls_back_locally(settings):
    settings = impatient(settings, "cloud")
    slow = FakeChatModel("cloud", Script("late", delay_first=5), is_local=False)
    tutor, _, _ = build(settings, cloud=slow)
    reply = await tutor.handle(ask("compare lists and tuples"))
    assert reply.route == "local" and "failover:cloud:first-token-timeout" in reply.reason_texts
    assert "cloud:failed" in reply.reason_texts and reply.notice == CLOUD_DOWN_NOTICE


async def test_slow_local_first_token_escalates_down_the_chain(settings):
    settings = impatient(settings, "local")
    slow = FakeChatModel("local", Script(CONFIDENT, delay_first=5))
    tutor, _, _ = build(settings, local=slow)
    reply = await tutor.handle(ask())
    assert reply.model == "tiny" and "failover:local:first-token-timeout" in reply.reason_texts


async def test_all_local_models_failing_escalates_to_the_cloud(settings):
    err = ModelServerError("x", "boom")
    tutor, fakes, _ = build(settings, local=FakeChatModel("local", Script(fail=err)))
    fakes["tiny"]._answer = Script(fail=err)
    reply = await tutor.handle(ask())
    assert reply.route == "cloud" and "escalate:local-failed" in reply.reason_texts


async def test_sticky_escalation_keeps_follow_ups_on_the_cloud(settings):
    tutor, _, _ = build(settings)
    first = await tutor.handle(ask("compare lists and tuples", conversation="t1"))
    assert first.route == "cloud"
    follow = [await tutor.handle(ask("and sets?", conversation="t1")) for _ in range(3)]
    assert [r.route for r in follow] == ["cloud", "cloud", "local"]
    assert "sticky:2" in follow[0].reason_texts and "sticky:1" in follow[1].reason_texts
    other_thread = await tutor.handle(ask("and sets?", conversation="t2"))
    assert other_thread.route == "local"


async def test_budget_exhaustion_routes_local_and_tells_moderators_once(tmp_path):
    text = TEST_CONFIG.replace(
        '[tiers.free]\nchain = ["default", "tiny", "fallback"]',
        '[tiers.free]\nchain = ["default", "tiny", "fallback"]\nmonthly_budget_usd = 0.00001',
    )
    settings = load_config(write_config(tmp_path, text), {})
    told = []

    async def notify(message):
        told.append(message)

    big = FakeChatModel("cloud", Script(" ".join(["word"] * 100)), is_local=False)
    tutor, fakes, _ = build(settings, cloud=big, notify=notify)
    first = await tutor.handle(ask("compare a and b", user="a"))
    assert first.route == "cloud" and first.usage.cost_usd > 0.00001
    later = [await tutor.handle(ask("compare c and d", user=u)) for u in ("b", "c", "d")]
    assert all(r.route == "local" and "budget:free-exhausted" in r.reason_texts for r in later)
    assert len(told) == 1 and "free tier has used its monthly cloud budget" in told[0]
    assert len(fakes["cloud"].calls) == 1


async def test_local_only_user_and_channel_never_reach_the_cloud(tmp_path):
    text = TEST_CONFIG + '\n[privacy]\nlocal_only_channels = ["secret-room"]\n'
    settings = load_config(write_config(tmp_path, text), {})
    shaky = FakeChatModel("local", Script(CONFIDENT, logprobs=(-3.0,) * 10))
    tutor, fakes, _ = build(settings, local=shaky)
    hard = "Explain in detail how generators work"
    r1 = await tutor.handle(ask(hard, channel="secret-room"))
    r2 = await tutor.handle(ask(hard, local_only=True))
    r3 = await tutor.handle(ask("what is x?", channel="secret-room"))  # low confidence too
    assert fakes["cloud"].calls == []
    assert (
        "privacy:local-only-channel" in r1.reason_texts and "privacy:local-only" in r2.reason_texts
    )
    assert all(r.route == "local" for r in (r1, r2, r3))


async def test_personal_data_is_redacted_before_the_cloud(settings):
    tutor, fakes, _ = build(settings)
    reply = await tutor.handle(
        ask("Compare my grades, mail me at ana.lopez@example.org or +34 612 345 678 in 2024")
    )
    sent = fakes["cloud"].calls[0][-1].content
    assert "ana.lopez@example.org" not in sent and "612 345 678" not in sent
    assert "[email]" in sent and "[phone]" in sent and "2024" in sent
    assert "redacted:email,phone" in reply.reason_texts


async def test_code_generation_uses_the_code_model_role(tmp_path):
    text = TEST_CONFIG.replace(
        '[roles]\ndefault = "local"', '[roles]\ndefault = "local"\ncode_gen = "tiny"'
    )
    settings = load_config(write_config(tmp_path, text), {})
    tutor, _, _ = build(settings)
    reply = await tutor.handle(ask("write a function to sum a list"))
    assert reply.model == "tiny" and "task:code-gen" in reply.reason_texts
    assert "task-model:tiny" in reply.reason_texts


async def test_per_tier_overrides_change_the_policy(tmp_path):
    text = TEST_CONFIG.replace(
        '[tiers.free]\nchain = ["default", "tiny", "fallback"]',
        '[tiers.free]\nchain = ["default", "tiny", "fallback"]\nrouter = { max_local_chars = 10 }',
    )
    settings = load_config(write_config(tmp_path, text), {})
    assert settings.policy("free").max_local_chars == 10
    assert settings.policy("enterprise").max_local_chars == 600
    tutor, _, _ = build(settings)
    reply = await tutor.handle(ask("what is a list in python?"))
    assert reply.route == "cloud" and "length:25>10" in reply.reason_texts


def test_bad_tier_override_is_a_clear_config_error(tmp_path):
    from bot.config import ConfigError

    text = TEST_CONFIG.replace(
        '[tiers.free]\nchain = ["default", "tiny", "fallback"]',
        '[tiers.free]\nchain = ["default", "tiny", "fallback"]\nrouter = { max_local_charz = 10 }',
    )
    with pytest.raises(ConfigError, match=r"tiers\.free\.router: max_local_charz"):
        load_config(write_config(tmp_path, text), {})
