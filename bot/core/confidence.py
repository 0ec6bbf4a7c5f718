"""How far a local answer can be trusted, from signals the backends give (0..1).

Each signal multiplies the score down and adds a reason:
- token logprobs: a low quantile (the weakest tokens), not the mean, which hides them;
- a finish reason of "length": the answer was cut off;
- empty, too short, hedging or refusing answers;
- repetition loops;
- a course question for which retrieval found nothing relevant;
- an answer that shares little with the course passages it was given (made up).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.config import RouterPolicy
from bot.core.excerpt import terms
from bot.events import Reason, ReasonCode
from bot.ports import Generation

LOGPROB_QUANTILE = 0.1
LOGPROB_TOLERANCE = 0.5
COURSE_WORDS = re.compile(r"(?i)\b(lesson|module|exercise|course|chapter|quiz|unit)\b")
WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Confidence:
    score: float
    reasons: tuple[Reason, ...]


def logprob_quantile(logprobs: Sequence[float], q: float = LOGPROB_QUANTILE) -> float:
    ordered = sorted(logprobs)
    return ordered[int(q * (len(ordered) - 1))]


def repetition_ratio(text: str, n: int = 4) -> float:
    """Share of word n-grams that repeat an earlier one (0 = none, near 1 = a loop)."""
    words = WORD.findall(text.casefold())
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if len(grams) < 8:
        return 0.0
    counts = Counter(grams)
    return sum(c - 1 for c in counts.values()) / len(grams)


def assess(
    generation: Generation,
    question: str,
    policy: RouterPolicy,
    *,
    retrieval_used: bool = False,
    found_material: bool = True,
    material: str = "",
) -> Confidence:
    text = generation.text.strip()
    score = 1.0
    reasons: list[Reason] = []

    def penalise(factor: float, code: ReasonCode, detail: str = "") -> None:
        nonlocal score
        score *= factor
        reasons.append(Reason(code, detail))

    if not text:
        return Confidence(0.0, (Reason(ReasonCode.EMPTY_ANSWER),))
    if generation.logprobs:
        low = logprob_quantile(generation.logprobs)
        # Up to -0.5 nats is fluent; below, the score halves every 1.4 nats:
        # a 10th-percentile token at -1 keeps 0.78, at -2 keeps 0.47, at -3 keeps 0.29.
        factor = min(1.0, math.exp((low + LOGPROB_TOLERANCE) / 2))
        if factor < 0.9:
            penalise(factor, ReasonCode.LOGPROBS, f"{low:.2f}")
    if generation.finish_reason == "length":
        penalise(0.6, ReasonCode.TRUNCATED)
    if len(text) < policy.min_answer_chars and len(question) > 3 * policy.min_answer_chars:
        penalise(0.4, ReasonCode.SHORT_ANSWER, str(len(text)))
    opening = text[:200]
    hedges = [h for h in policy.hedges if h.casefold() in opening.casefold()]
    if hedges:
        penalise(0.5, ReasonCode.HEDGING, hedges[0])
    repeated = repetition_ratio(text)
    if repeated > 0.3:
        penalise(max(0.2, 1 - repeated), ReasonCode.REPETITION, f"{repeated:.2f}")
    if retrieval_used and not found_material and COURSE_WORDS.search(question):
        penalise(0.6, ReasonCode.NO_MATERIAL)
    if material and (share := grounding(text, material)) < policy.min_grounding:
        penalise(0.5, ReasonCode.UNGROUNDED, f"{share:.2f}")
    return Confidence(round(score, 3), tuple(reasons))


def grounding(answer: str, material: str) -> float:
    """Share of the answer's content words that the course material it was given holds."""
    said = terms(answer)
    return len(said & terms(material)) / len(said) if said else 1.0
