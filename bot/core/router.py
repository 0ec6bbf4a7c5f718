"""The pre-generation routing decision: local or cloud, with short reasons.

Rules first (keywords, length, pasted code), then a semantic classifier for the cases
rules miss: k nearest labelled example utterances, embedded with the retrieval
embedder. Privacy, budgets and sticky conversations are decided by the caller and
passed in, so this module stays a pure function of the text plus a little state.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from bot.config import RouterPolicy
from bot.core.jsonl import read_jsonl
from bot.events import Reason, ReasonCode
from bot.ports import Embedder

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

log = logging.getLogger(__name__)

Route = Literal["local", "cloud"]
Task = Literal["general", "code-gen", "simple"]

NO_RULE = Reason(ReasonCode.NO_RULE)
OFF_LOOP_CHARS = 2000  # longer messages are split into prose and code in a thread
# Indentation is spaces and tabs only: ``^\s*`` would rescan every following newline from
# each line start (quadratic on a message of blank lines).
FENCED = re.compile(r"(?ms)^[ \t]*(```|~~~).*?(^[ \t]*\1[ \t]*$|\Z)")
TRACEBACK_LINE = re.compile(r"^\s*(Traceback \(most recent call last\)|File \".*\", line \d+)")


@dataclass(frozen=True, slots=True)
class MessageShape:
    """A message split into the learner's prose and the code they pasted."""

    prose: str
    code_lines: int

    @classmethod
    def of(cls, text: str) -> MessageShape:
        code_lines = 0
        for block in FENCED.finditer(text):
            code_lines += max(0, block.group(0).strip().count("\n") - 1)
        prose_lines = []
        for line in FENCED.sub("\n", text).splitlines():
            if TRACEBACK_LINE.match(line):
                code_lines += 1
            else:
                prose_lines.append(line)
        return cls(" ".join(" ".join(prose_lines).split()), code_lines)


@dataclass(frozen=True, slots=True)
class Decision:
    route: Route
    reasons: tuple[Reason, ...]
    task: Task = "general"
    classifier_score: float | None = None


@cache
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in phrase.casefold().split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)")


def match_phrases(text: str, phrases: Sequence[str]) -> list[str]:
    """The phrases found in ``text`` as whole words, ignoring case (Unicode case folding)."""
    folded = text.casefold()
    found = [p for p in phrases if p.strip() and _phrase_pattern(p).search(folded)]
    # "in detail" adds nothing once "explain in detail" matched
    return [p for p in found if not any(p != q and p.casefold() in q.casefold() for q in found)]


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule that matched: a keyword (in a language), too much prose, too much code."""

    reason: Reason
    language: str | None = None  # keywords only; other rules are for no classifier to weigh

    def overruled(self) -> Reason:
        return Reason(ReasonCode.KEYWORD_OVERRULED, self.reason.detail)


def matched_rules(shape: MessageShape, policy: RouterPolicy) -> list[Rule]:
    """The rules that escalate this message; empty when none does."""
    rules = []
    for language, phrases in policy.keywords.items():
        for phrase in match_phrases(shape.prose, phrases):
            tag = phrase if language == "en" else f"{language}:{phrase}"
            rules.append(Rule(Reason(ReasonCode.KEYWORD, tag), language))
    if len(shape.prose) > policy.max_local_chars:
        detail = f"{len(shape.prose)}>{policy.max_local_chars}"
        rules.append(Rule(Reason(ReasonCode.LENGTH, detail)))
    if shape.code_lines > policy.max_local_code_lines:
        detail = f"{shape.code_lines}>{policy.max_local_code_lines}"
        rules.append(Rule(Reason(ReasonCode.CODE, detail)))
    return rules


def rule_reasons(shape: MessageShape, policy: RouterPolicy) -> list[Reason]:
    """Why the rules escalate this message; empty when they don't."""
    return [rule.reason for rule in matched_rules(shape, policy)]


def load_examples(path: Path) -> list[tuple[str, str]]:
    """Labelled utterances, one ``{"text", "label": "local"|"cloud"}`` per line."""

    def example(_: int, row: Any) -> tuple[str, str]:
        label = row["label"]
        if label not in {"local", "cloud"}:
            raise ValueError(f"label {label!r}")
        return str(row["text"]), label

    examples = read_jsonl(path, example, "example")
    if not examples:
        raise ValueError(f"{path}: no examples")
    return examples


def shape_features(text: str) -> list[float]:
    """What the embedding misses: how long the prose is, how much code, how many questions."""
    shape = MessageShape.of(text)
    sentences = len(re.findall(r"[.!?](?:\s|$)", shape.prose))
    return [
        math.log1p(len(shape.prose)) / 6,
        math.log1p(shape.code_lines) / 3,
        text.count("?") / 3,
        sentences / 5,
    ]


# How close (cosine, the retrieval embedder) a message must be to a learned outcome for
# that outcome to decide it: paraphrases of one question, measured on bench/semester.py.
LEARNED_RADIUS = 0.85


class ExampleClassifier:
    """Scores how cloud-worthy a message is (0..1), learned from labelled utterances.

    Texts are embedded with the retrieval embedder. ``method="logistic"`` (the default)
    fits an L2-regularised logistic regression on the embedding plus shape features at
    warm-up; ``method="knn"`` takes a similarity-weighted vote of the k nearest examples.
    Measured on the shipped suite's held-out split, logistic is far more accurate
    (bench/routing.py prints both).

    ``learned`` examples (outcomes the router learned, bot.memory.learning) are not fitted:
    they speak only for messages within ``learned_radius`` (cosine) of them, by a
    similarity-weighted vote; everywhere else the shipped examples decide. A local
    model's strengths and weaknesses are about particular questions, and fitting them
    moved the boundary for every other question too.
    """

    def __init__(
        self,
        embedder: Embedder,
        examples: Sequence[tuple[str, str]],
        *,
        method: Literal["logistic", "knn"] = "logistic",
        regularisation: float = 3.0,
        learned: Sequence[tuple[str, str]] = (),
        learned_radius: float = LEARNED_RADIUS,
    ) -> None:
        if not examples:
            raise ValueError("the classifier needs labelled examples")
        self.embedder = embedder
        self.method = method
        self.regularisation = regularisation
        self.texts = [text for text, _ in examples]
        self.is_cloud = np.array([label == "cloud" for _, label in examples])
        self.learned_texts = [text for text, _ in learned]
        self.learned_cloud = np.array([label == "cloud" for _, label in learned], dtype=bool)
        self.learned_radius = learned_radius
        self._learned: np.ndarray | None = None
        self._matrix: np.ndarray | None = None
        self._model: LogisticRegression | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_jsonl(cls, embedder: Embedder, path: Path, **kwargs: Any) -> ExampleClassifier:
        return cls(embedder, load_examples(path), **kwargs)

    async def warm(self) -> None:
        """Embed the examples (and fit the regression) once."""
        async with self._lock:
            if self._matrix is None:
                vectors = _normalised(await self.embedder.embed(self.texts))
                if self.method == "logistic":
                    features = self._with_shape(vectors, self.texts)
                    self._model = await asyncio.to_thread(
                        fit_logistic, features, self.is_cloud, self.regularisation
                    )
                if self.learned_texts:
                    self._learned = _normalised(await self.embedder.embed(self.learned_texts))
                self._matrix = vectors

    async def score(self, text: str, k: int) -> float:
        await self.warm()
        assert self._matrix is not None
        query = _normalised(await self.embedder.embed([text]))
        if self._learned is not None:
            sims = self._learned @ query[0]
            near = sims >= self.learned_radius
            if near.any():  # questions very like this one went this way before
                weights = np.exp(8 * sims[near])
                return float(weights[self.learned_cloud[near]].sum() / weights.sum())
        if self.method == "logistic" and self._model is not None:
            return float(self._model.predict_proba(self._with_shape(query, [text]))[0, 1])
        sims = self._matrix @ query[0]
        nearest = np.argsort(-sims)[:k]
        weights = np.exp(8 * sims[nearest])  # closer examples count for more
        return float(weights[self.is_cloud[nearest]].sum() / weights.sum())

    @staticmethod
    def _with_shape(vectors: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        shape = np.asarray([shape_features(t) for t in texts], dtype=np.float32)
        return np.hstack([vectors, shape])


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float) -> LogisticRegression:
    """A class-balanced, L2-regularised logistic regression (``c``: inverse strength).

    scikit-learn is imported here, at warm-up, so commands that never classify skip its
    second of import time.
    """
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
    return model.fit(x.astype(np.float64), y.astype(bool))


def _normalised(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


class Router:
    """Decides, before any model runs, whether a question goes local or to the cloud."""

    def __init__(self, classifier: ExampleClassifier | None = None) -> None:
        self.classifier = classifier

    async def decide(
        self,
        text: str,
        policy: RouterPolicy,
        *,
        cloud_allowed: bool = True,
        blocked_reason: Reason | None = None,
        sticky_turns: int = 0,
    ) -> Decision:
        """``blocked_reason`` (privacy, budget) forces local; ``sticky_turns`` > 0 keeps cloud."""
        # Splitting a long message is CPU work on learner text: off the event loop.
        shape = (
            MessageShape.of(text)
            if len(text) < OFF_LOOP_CHARS
            else await asyncio.to_thread(MessageShape.of, text)
        )
        task: Task = (
            "code-gen" if match_phrases(shape.prose, policy.code_gen_phrases) else "general"
        )
        reasons = [Reason(ReasonCode.TASK, task)] if task == "code-gen" else []
        if blocked_reason:
            return Decision("local", (*reasons, blocked_reason), task)
        if not cloud_allowed:
            return Decision("local", (*reasons, Reason(ReasonCode.NO_CLOUD_IN_TIER)), task)
        if policy.cloud_first:
            return Decision("cloud", (*reasons, Reason(ReasonCode.CLOUD_FIRST)), task)
        if sticky_turns > 0:
            return Decision("cloud", (*reasons, Reason(ReasonCode.STICKY, str(sticky_turns))), task)
        rules = matched_rules(shape, policy)
        matched = [rule.reason for rule in rules]
        if any(rule.language not in policy.classifier_languages for rule in rules):
            # Length, pasted code, and keywords in languages the classifier's embedder
            # does not read are decisive on their own.
            return Decision("cloud", (*reasons, *matched), task)
        score = None
        if self.classifier is not None and policy.classifier != "off":
            try:
                score = await self.classifier.score(text, policy.classifier_k)
            except Exception:
                log.exception("routing classifier failed; deciding by rules alone")
                reasons.append(Reason(ReasonCode.CLASSIFIER_FAILED))
        if score is None:
            if rules:
                return Decision("cloud", (*reasons, *matched), task)
        else:
            # A keyword is strong evidence but not proof ("how do I compare two strings"):
            # it lowers the bar the classifier must clear.
            bar = policy.keyword_threshold if rules else policy.classifier_threshold
            if score >= bar:
                reasons += [*matched, Reason(ReasonCode.CLASSIFIER_COMPLEX, f"{score:.2f}")]
                return Decision("cloud", tuple(reasons), task, score)
            reasons += [rule.overruled() for rule in rules]
            reasons.append(Reason(ReasonCode.CLASSIFIER_SIMPLE, f"{score:.2f}"))
        short = len(shape.prose) <= policy.simple_max_chars and not shape.code_lines
        if task == "general" and short:
            task = "simple"
        return Decision("local", tuple(reasons) or (NO_RULE,), task, score)
