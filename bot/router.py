"""The pre-generation routing decision: local or cloud, with short reasons.

Rules first (keywords, length, pasted code), then a semantic classifier for the cases
rules miss: k nearest labelled example utterances, embedded with the retrieval
embedder. Privacy, budgets and sticky conversations are decided by the caller and
passed in, so this module stays a pure function of the text plus a little state.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np

from bot.config import RouterPolicy
from bot.ports import Embedder

log = logging.getLogger(__name__)

Route = Literal["local", "cloud"]
Task = Literal["general", "code-gen", "simple"]

FENCED = re.compile(r"(?ms)^\s*(```|~~~).*?(^\s*\1\s*$|\Z)")
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
    reasons: tuple[str, ...]
    task: Task = "general"
    classifier_score: float | None = None


@cache
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in phrase.casefold().split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)")


def match_phrases(text: str, phrases: Sequence[str]) -> list[str]:
    """The phrases found in ``text`` as whole words, ignoring case (Unicode case folding)."""
    folded = text.casefold()
    return [p for p in phrases if p.strip() and _phrase_pattern(p).search(folded)]


def rule_reasons(shape: MessageShape, policy: RouterPolicy) -> list[str]:
    """Why the rules escalate this message; empty when they don't."""
    reasons = []
    for language, phrases in policy.keywords.items():
        for phrase in match_phrases(shape.prose, phrases):
            tag = phrase if language == "en" else f"{language}:{phrase}"
            reasons.append(f"keyword:{tag}")
    if len(shape.prose) > policy.max_local_chars:
        reasons.append(f"length:{len(shape.prose)}>{policy.max_local_chars}")
    if shape.code_lines > policy.max_local_code_lines:
        reasons.append(f"code:{shape.code_lines}>{policy.max_local_code_lines}")
    return reasons


class ExampleClassifier:
    """k-nearest-neighbour vote over labelled utterances ("local" / "cloud").

    The examples are embedded once, on first use, with the same embedder as retrieval.
    ``score`` is the similarity-weighted share of "cloud" among the k nearest.
    """

    def __init__(self, embedder: Embedder, examples: Sequence[tuple[str, str]]) -> None:
        if not examples:
            raise ValueError("the classifier needs labelled examples")
        self.embedder = embedder
        self.texts = [text for text, _ in examples]
        self.is_cloud = np.array([label == "cloud" for _, label in examples])
        self._matrix: np.ndarray | None = None

    @classmethod
    def from_jsonl(cls, embedder: Embedder, path: Path) -> ExampleClassifier:
        examples = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                label = row["label"]
                if label not in {"local", "cloud"}:
                    raise ValueError(f"label {label!r}")
                examples.append((str(row["text"]), label))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: bad example ({exc})") from None
        return cls(embedder, examples)

    async def score(self, text: str, k: int) -> float:
        if self._matrix is None:
            self._matrix = _normalised(await self.embedder.embed(self.texts))
        query = _normalised(await self.embedder.embed([text]))[0]
        sims = self._matrix @ query
        nearest = np.argsort(-sims)[:k]
        weights = np.exp(8 * sims[nearest])  # closer examples count for more
        return float(weights[self.is_cloud[nearest]].sum() / weights.sum())


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
        blocked_reason: str | None = None,
        sticky_turns: int = 0,
    ) -> Decision:
        """``blocked_reason`` (privacy, budget) forces local; ``sticky_turns`` > 0 keeps cloud."""
        shape = MessageShape.of(text)
        task: Task = (
            "code-gen" if match_phrases(shape.prose, policy.code_gen_phrases) else "general"
        )
        reasons: list[str] = ["task:code-gen"] if task == "code-gen" else []
        if blocked_reason:
            return Decision("local", (*reasons, blocked_reason), task)
        if not cloud_allowed:
            return Decision("local", (*reasons, "cloud:none-in-tier"), task)
        if policy.cloud_first:
            return Decision("cloud", (*reasons, "tier:cloud-first"), task)
        if sticky_turns > 0:
            return Decision("cloud", (*reasons, f"sticky:{sticky_turns}"), task)
        rules = rule_reasons(shape, policy)
        if rules:
            return Decision("cloud", (*reasons, *rules), task)
        score = None
        if self.classifier is not None and policy.classifier:
            try:
                score = await self.classifier.score(text, policy.classifier_k)
            except Exception:
                log.exception("routing classifier failed; deciding by rules alone")
                reasons.append("classifier:failed")
        if score is not None:
            if score >= policy.classifier_threshold:
                return Decision(
                    "cloud", (*reasons, f"classifier:complex({score:.2f})"), task, score
                )
            reasons.append(f"classifier:simple({score:.2f})")
        if (
            task == "general"
            and len(shape.prose) <= policy.simple_max_chars
            and not shape.code_lines
        ):
            task = "simple"
        return Decision("local", tuple(reasons) or ("rules:none",), task, score)
