"""Pre-generation routing: rules, the example classifier, and how decisions combine."""

import pytest

from bot.config import RouterPolicy
from bot.core.router import ExampleClassifier, MessageShape, Router, match_phrases, rule_reasons
from bot.events import Reason, ReasonCode
from tests.fakes import KeywordEmbedder, texts

POLICY = RouterPolicy(
    keywords={
        "en": ["explain in detail", "compare", "design", "step by step", "study plan"],
        "es": ["explica en detalle", "compara"],
    },
    max_local_chars=120,
    max_local_code_lines=10,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Can you EXPLAIN in   detail how dicts work?", "keyword:explain in detail"),
        ("compare lists and tuples", "keyword:compare"),
        ("Design a class hierarchy for shapes", "keyword:design"),
        ("walk me through it step-by-step? no: Step by step", "keyword:step by step"),
        ("Make me a STUDY PLAN", "keyword:study plan"),
        ("¿Me explicas en detalle?", None),
        ("Explica en detalle las listas", "keyword:es:explica en detalle"),
    ],
)
def test_keywords_match_whole_phrases_case_folded(text, expected):
    reasons = texts(rule_reasons(MessageShape.of(text), POLICY))
    assert (expected in reasons) if expected else not reasons


def test_word_boundaries_stop_partial_matches():
    assert match_phrases("the designer comparesons", ["design", "compare"]) == []
    assert match_phrases("re-design it", ["design"]) == ["design"]


def test_long_prose_escalates_but_pasted_code_is_counted_by_lines():
    long = "why " * 40
    assert texts(rule_reasons(MessageShape.of(long), POLICY)) == ("length:159>120",)
    short_with_code = "why does this fail?\n```python\n" + "x = 1\n" * 9 + "```"
    shape = MessageShape.of(short_with_code)
    assert shape.code_lines == 9 and shape.prose == "why does this fail?"
    assert rule_reasons(shape, POLICY) == []
    big_paste = "review this\n```\n" + "y = 2\n" * 30 + "```"
    assert texts(rule_reasons(MessageShape.of(big_paste), POLICY)) == ("code:30>10",)


def test_keywords_inside_code_do_not_count_and_tracebacks_are_code():
    text = "what does this do\n```\ndef compare(a, b):\n    return a < b\n```"
    assert rule_reasons(MessageShape.of(text), POLICY) == []
    tb = 'Traceback (most recent call last):\n  File "x.py", line 3, in <module>\nNameError: x'
    shape = MessageShape.of(tb)
    assert shape.code_lines == 2 and "NameError" in shape.prose


async def test_decision_order_privacy_then_cloud_first_then_sticky_then_rules():
    router = Router()
    assert (await router.decide("compare a and b", POLICY)).route == "cloud"
    blocked = await router.decide(
        "compare a and b", POLICY, blocked_reason=Reason(ReasonCode.LOCAL_ONLY)
    )
    assert blocked.route == "local" and texts(blocked.reasons) == ("privacy:local-only",)
    nocloud = await router.decide("compare a and b", POLICY, cloud_allowed=False)
    assert nocloud.route == "local" and "cloud:none-in-tier" in texts(nocloud.reasons)
    first = await router.decide("hi", POLICY.model_copy(update={"cloud_first": True}))
    assert first.route == "cloud" and texts(first.reasons) == ("tier:cloud-first",)
    sticky = await router.decide("and then?", POLICY, sticky_turns=2)
    assert sticky.route == "cloud" and texts(sticky.reasons) == ("sticky:2",)
    plain = await router.decide("what is a list?", POLICY)
    assert (
        plain.route == "local"
        and texts(plain.reasons) == ("rules:none",)
        and plain.task == "simple"
    )


async def test_code_generation_is_a_task_type():
    decision = await Router().decide("please write a function that reverses a list", POLICY)
    assert decision.task == "code-gen" and "task:code-gen" in texts(decision.reasons)


EXAMPLES = [
    ("what is a variable", "local"),
    ("how do i print text", "local"),
    ("what is a list", "local"),
    ("why is my recursive fibonacci slow and how to make it fast", "cloud"),
    ("how should i structure a large project with many modules", "cloud"),
    ("prove the complexity of binary search", "cloud"),
]


@pytest.mark.parametrize("method", ["logistic", "knn"])
async def test_classifier_learns_from_labelled_examples(method):
    classifier = ExampleClassifier(KeywordEmbedder(), EXAMPLES, method=method)
    assert await classifier.score("what is a tuple", k=3) < 0.5
    assert await classifier.score("my recursive function is slow, make it fast", k=3) > 0.5
    policy = POLICY.model_copy(update={"classifier_threshold": 0.5})
    router = Router(classifier)
    decision = await router.decide("my recursive function is slow, make it fast", policy)
    assert decision.route == "cloud" and str(decision.reasons[-1]).startswith("classifier:complex(")
    simple = await router.decide("what is a variable", policy)
    assert simple.route == "local" and str(simple.reasons[-1]).startswith("classifier:simple(")


async def test_a_keyword_lowers_the_bar_but_the_classifier_can_overrule_it():
    router = Router(ExampleClassifier(KeywordEmbedder(), EXAMPLES))
    policy = POLICY.model_copy(update={"classifier_threshold": 0.9, "keyword_threshold": 0.5})
    trivial = await router.decide("how do i compare a variable", policy)
    assert trivial.route == "local"
    assert "keyword:compare:overruled" in texts(trivial.reasons)
    hard = await router.decide("compare why my recursive fibonacci is slow", policy)
    assert hard.route == "cloud" and texts(hard.reasons[:1]) == ("keyword:compare",)
    # length and pasted code are hard triggers: no classifier vote needed
    long = await router.decide("what is a list " * 20, policy)
    assert long.route == "cloud" and str(long.reasons[0]).startswith("length:")


def test_logistic_fit_separates_a_simple_problem():
    import numpy as np

    from bot.core.router import fit_logistic

    x = np.array([[0.0, 1.0], [0.1, 0.9], [1.0, 0.0], [0.9, 0.2]])
    y = np.array([False, False, True, True])
    p = fit_logistic(x, y, c=10.0).predict_proba(x)[:, 1]
    assert (p[:2] < 0.3).all() and (p[2:] > 0.7).all()


async def test_classifier_examples_file_errors_name_the_line(tmp_path):
    path = tmp_path / "ex.jsonl"
    path.write_text('{"text": "a", "label": "local"}\n{"text": "b", "label": "maybe"}\n')
    with pytest.raises(ValueError, match=r"ex\.jsonl:2"):
        ExampleClassifier.from_jsonl(KeywordEmbedder(), path)


async def test_a_failing_classifier_falls_back_to_rules():
    class Broken:
        name = "broken"

        async def embed(self, texts):
            raise RuntimeError("embedder down")

    router = Router(ExampleClassifier(Broken(), EXAMPLES))
    decision = await router.decide("what is a set", POLICY)
    assert decision.route == "local" and "classifier:failed" in texts(decision.reasons)


async def test_keywords_in_languages_the_classifier_cannot_read_decide_alone():
    router = Router(ExampleClassifier(KeywordEmbedder(), EXAMPLES))
    policy = POLICY.model_copy(update={"classifier_threshold": 0.99, "keyword_threshold": 0.99})
    spanish = await router.decide("compara listas y tuplas", policy)
    assert spanish.route == "cloud" and texts(spanish.reasons) == ("keyword:es:compara",)
    english = await router.decide("compare lists", policy)
    assert english.route == "local" and "keyword:compare:overruled" in texts(english.reasons)


@pytest.mark.parametrize("method", ["logistic", "knn"])
async def test_learned_examples_decide_only_for_messages_very_like_them(method):
    # the local model failed "what is a tuple" before: that question, and only it, goes cloud
    learned = [("what is a tuple", "cloud"), ("why is my recursive fibonacci slow", "local")]
    plain = ExampleClassifier(KeywordEmbedder(), EXAMPLES, method=method)
    taught = ExampleClassifier(
        KeywordEmbedder(), EXAMPLES, method=method, learned=learned, learned_radius=0.9
    )
    assert await plain.score("what is a tuple", k=3) < 0.5
    assert await taught.score("what is a tuple", k=3) == 1.0
    assert await taught.score("why is my recursive fibonacci slow", k=3) == 0.0
    for far in ("what is a variable", "prove the complexity of binary search"):
        assert await taught.score(far, k=3) == await plain.score(far, k=3)
