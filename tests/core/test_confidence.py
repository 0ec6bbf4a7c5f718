"""The post-generation confidence gate on scripted answers and logprobs."""

from bot.config import RouterPolicy
from bot.core.confidence import assess, logprob_quantile, repetition_ratio
from bot.ports import Generation
from tests.fakes import texts

POLICY = RouterPolicy()
Q = "What is the difference between append and extend?"


def gen(text, logprobs=None, finish="stop"):
    return Generation(text=text, model="m", finish_reason=finish, logprobs=logprobs)


GOOD = "append adds one item to the end of a list, while extend adds every item of an iterable."


def test_a_fluent_confident_answer_scores_high():
    result = assess(gen(GOOD, logprobs=(-0.01,) * 40 + (-0.3,) * 5), Q, POLICY)
    assert result.score == 1.0 and texts(result.reasons) == ()


def test_a_low_quantile_of_logprobs_matters_not_the_mean():
    # mean is high (-0.25) but a tenth of the tokens are wild guesses
    logprobs = (-0.01,) * 36 + (-2.2,) * 4
    assert sum(logprobs) / len(logprobs) > -0.25
    assert logprob_quantile(logprobs) == -2.2
    result = assess(gen(GOOD, logprobs), Q, POLICY)
    assert result.score < 0.45 and str(result.reasons[0]) == "logprobs:p10=-2.20"


def test_truncated_short_hedging_and_empty_answers_are_penalised():
    assert texts(assess(gen(GOOD, finish="length"), Q, POLICY).reasons) == ("answer:truncated",)
    short = assess(gen("Yes."), Q, POLICY)
    assert short.score == 0.4 and texts(short.reasons) == ("answer:short(4)",)
    hedge = assess(
        gen("I'm not sure, but maybe append is faster than extend in some cases."), Q, POLICY
    )
    assert hedge.score == 0.5 and str(hedge.reasons[0]).startswith("answer:hedging")
    assert assess(gen("   "), Q, POLICY).score == 0.0


def test_repetition_loops_are_caught():
    loop = "The list is a list. " * 20
    assert repetition_ratio(loop) > 0.8
    assert repetition_ratio(GOOD) == 0.0
    result = assess(gen(loop), Q, POLICY)
    assert result.score <= 0.2 and str(result.reasons[0]).startswith("answer:repetition")


def test_a_course_question_with_no_course_material_loses_confidence():
    question = "What is the exercise at the end of lesson 4?"
    found = assess(gen(GOOD), question, POLICY, retrieval_used=True, found_material=True)
    missing = assess(gen(GOOD), question, POLICY, retrieval_used=True, found_material=False)
    general = assess(gen(GOOD), Q, POLICY, retrieval_used=True, found_material=False)
    assert found.score == 1.0 and general.score == 1.0
    assert missing.score == 0.6 and texts(missing.reasons) == ("retrieval:nothing-relevant",)
