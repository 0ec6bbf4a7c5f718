"""Reasons as data: one vocabulary of codes, read as the texts people always saw."""

import pytest

from bot.events import Reason, ReasonCode, escalation_codes

# Every text the tutor gave before reasons had codes, and the code each one is.
TODAY = [
    ("tier:free", ReasonCode.TIER, "free"),
    ("trimmed:100000>500", ReasonCode.TRIMMED, "100000>500"),
    ("empty-message", ReasonCode.EMPTY_MESSAGE, ""),
    ("keyword:explain in detail", ReasonCode.KEYWORD, "explain in detail"),
    ("keyword:es:compara", ReasonCode.KEYWORD, "es:compara"),
    ("keyword:compare:overruled", ReasonCode.KEYWORD_OVERRULED, "compare"),
    ("length:159>120", ReasonCode.LENGTH, "159>120"),
    ("code:30>10", ReasonCode.CODE, "30>10"),
    ("classifier:complex(0.73)", ReasonCode.CLASSIFIER_COMPLEX, "0.73"),
    ("classifier:simple(0.12)", ReasonCode.CLASSIFIER_SIMPLE, "0.12"),
    ("classifier:failed", ReasonCode.CLASSIFIER_FAILED, ""),
    ("rules:none", ReasonCode.NO_RULE, ""),
    ("task:code-gen", ReasonCode.TASK, "code-gen"),
    ("tier:cloud-first", ReasonCode.CLOUD_FIRST, ""),
    ("sticky:2", ReasonCode.STICKY, "2"),
    ("cloud:none-in-tier", ReasonCode.NO_CLOUD_IN_TIER, ""),
    ("channel-model:tiny", ReasonCode.CHANNEL_MODEL, "tiny"),
    ("task-model:tiny", ReasonCode.TASK_MODEL, "tiny"),
    ("privacy:local-only", ReasonCode.LOCAL_ONLY, ""),
    ("privacy:local-only-channel", ReasonCode.LOCAL_ONLY_CHANNEL, ""),
    ("budget:free-exhausted", ReasonCode.TIER_BUDGET, "free"),
    ("budget:learner-exhausted", ReasonCode.LEARNER_BUDGET, ""),
    ("retrieval:none", ReasonCode.RETRIEVAL_NONE, ""),
    ("retrieval:failed", ReasonCode.RETRIEVAL_FAILED, ""),
    ("failover:local:first-token-timeout", ReasonCode.FAILOVER, "local:first-token-timeout"),
    ("skipped:local:unhealthy", ReasonCode.SKIPPED_UNHEALTHY, "local"),
    ("escalate:local-failed", ReasonCode.LOCAL_FAILED, ""),
    ("confidence:0.31<0.45", ReasonCode.LOW_CONFIDENCE, "0.31<0.45"),
    ("cloud:failed", ReasonCode.CLOUD_FAILED, ""),
    ("redacted:email,phone", ReasonCode.REDACTED, "email,phone"),
    ("logprobs:p10=-2.20", ReasonCode.LOGPROBS, "-2.20"),
    ("answer:truncated", ReasonCode.TRUNCATED, ""),
    ("answer:short(4)", ReasonCode.SHORT_ANSWER, "4"),
    ("answer:hedging(I'm not sure)", ReasonCode.HEDGING, "I'm not sure"),
    ("answer:repetition(0.85)", ReasonCode.REPETITION, "0.85"),
    ("answer:empty", ReasonCode.EMPTY_ANSWER, ""),
    ("retrieval:nothing-relevant", ReasonCode.NO_MATERIAL, ""),
]


@pytest.mark.parametrize(("text", "code", "detail"), TODAY)
def test_each_reason_reads_as_it_always_did_and_parses_back(text, code, detail):
    assert str(Reason(code, detail)) == text
    assert Reason.parse(text) == Reason(code, detail)


def test_every_code_round_trips_through_its_text():
    for code in ReasonCode:
        reason = Reason(code, "x1") if "x1" in str(Reason(code, "x1")) else Reason(code)
        assert Reason.parse(str(reason)) == reason, code


def test_text_no_code_reads_like_is_kept_as_other():
    assert Reason.parse("rule:code") == Reason(ReasonCode.OTHER, "rule:code")
    assert str(Reason.parse("rule:code")) == "rule:code"


def test_escalation_codes_count_each_code_once_and_leave_the_tier_out():
    reasons = [
        Reason(ReasonCode.TIER, "free"),
        Reason(ReasonCode.KEYWORD, "compare"),
        Reason(ReasonCode.KEYWORD, "design"),
        Reason(ReasonCode.CLASSIFIER_COMPLEX, "0.73"),
    ]
    codes = escalation_codes(r.code for r in reasons)
    assert codes == (ReasonCode.KEYWORD, ReasonCode.CLASSIFIER_COMPLEX)
    assert escalation_codes([ReasonCode.TIER]) == (ReasonCode.TIER_CHAIN,)
