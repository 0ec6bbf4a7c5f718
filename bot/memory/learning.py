"""The router learns from outcomes: refit the classifier on the shipped examples plus the
ledger's verdicts, and keep the new model only if it routes the held-back suite as well.

Labels from the ledger (``label_of``): a local answer that passed the confidence gate
(and, once votes are recorded, was not voted down) teaches "local"; a question the gate
escalated (or, with votes, a local answer voted down) teaches "cloud". The examples are
redacted (personal data replaced), deduplicated, balanced (as many of each label) and
bounded (``[memory] learn_max_examples`` per label, newest first). They are written to
``<data_dir>/router_learned.jsonl``, which BotApp adds to the shipped examples.

Why a plain refit never helped (bench/semester.py): the ledger's verdicts are about one
local model, the suite's labels are the team's idea of what is simple, and the two
disagree ("How do I sort a list?" is simple to the suite; a weak model may still fail
it). Fitted together with the shipped examples, as many and each counting as much,
they moved the boundary for every question, and the held-back suite always lost 3 to 7
points. So learned examples are not fitted: they decide only for messages very like
them (``ExampleClassifier(learned=...)``, bot/core/router.py), at most
``LEARNED_SHARE`` as many per label as the shipped ones. Every ``HOLD_BACK``-th of them
(by a hash of the text) is not learned but judged on, and a refit is kept when it
routes the held-back suite and the held-back outcomes together at least as accurately
as the model in use, and the suite alone no worse: where the suite and
this local model disagree about a question, the suite wins.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.config import Settings
from bot.core.evaluate import RoutingScore, SuiteItem, load_suite, route_suite, score_routing
from bot.core.privacy import Redactor
from bot.core.router import ExampleClassifier, MessageShape, Router, load_examples
from bot.events import ReasonCode
from bot.ledger import queries
from bot.ledger.queries import Learning, Outcome
from bot.memory.memory import MemoryStore
from bot.ports import Embedder

log = logging.getLogger(__name__)

LEARNED_FILE = "router_learned.jsonl"
LEARNED_SHARE = 0.5  # at most this many learned examples per shipped one, per label
HOLD_BACK = 4  # one learned example in this many is held back to judge the refit
DAY_S = 86_400
NOT_LEARNED = {"course", "none", "memory"}  # answers made without a model say nothing

Label = Literal["local", "cloud"]
LABELS: tuple[Label, ...] = ("local", "cloud")


def label_of(row: Outcome, votes_down: int = 0) -> Label | None:
    """What one recorded answer teaches the router, if anything.

    ``votes_down`` counts learners' down-votes on the answer (0 until votes are wired).
    """
    codes = set(json.loads(row.reason_codes or "[]"))
    if row.model in NOT_LEARNED:
        return None
    if row.route == "local":
        if row.outcome != "answered" or ReasonCode.LOW_CONFIDENCE.value in codes:
            return None  # failed over, or the gate would have escalated it
        return "cloud" if votes_down else "local"
    if row.route == "cloud" and ReasonCode.LOW_CONFIDENCE.value in codes:
        return "cloud"  # the local answer was not good enough
    return None


@dataclass(frozen=True, slots=True)
class Learned:
    """What one refit did."""

    run: Learning
    examples: list[tuple[str, str]]  # the ledger's examples in use after the run
    judged: int = 0  # held-back outcomes the refit was judged on
    outcome_accuracy_before: float | None = None
    outcome_accuracy_after: float | None = None

    def summary(self) -> str:
        r = self.run
        verdict = "kept the new model" if r.kept else "kept the previous model"
        outcomes = (
            f", on {self.judged} held-back outcomes {self.outcome_accuracy_before:.3f}"
            f" -> {self.outcome_accuracy_after:.3f}"
            if self.outcome_accuracy_before is not None and self.outcome_accuracy_after is not None
            else ""
        )
        return (
            f"learned from {r.learned_local} local and {r.learned_cloud} escalated answers; "
            f"held-back suite accuracy {r.accuracy_before:.3f} -> {r.accuracy_after:.3f}"
            f"{outcomes}, suite local share {r.local_share_before:.1%} -> "
            f"{r.local_share_after:.1%}: {verdict}"
        )


@dataclass(frozen=True, slots=True)
class Judged:
    """How one model routed the held-back suite and the held-back outcomes."""

    suite: RoutingScore
    outcomes: RoutingScore | None

    @property
    def outcome_accuracy(self) -> float | None:
        return self.outcomes.accuracy if self.outcomes else None

    @property
    def pooled(self) -> float:
        """Accuracy over both held-back sets together."""
        n = self.suite.labelled + (self.outcomes.labelled if self.outcomes else 0)
        right = self.suite.accuracy * self.suite.labelled
        if self.outcomes:
            right += self.outcomes.accuracy * self.outcomes.labelled
        return right / n if n else 0.0


def learned_path(settings: Settings) -> Path:
    return settings.data_dir / LEARNED_FILE


def learned_examples(settings: Settings) -> list[tuple[str, str]]:
    """The examples an earlier run learned (none when there was no run, or it is unreadable)."""
    path = learned_path(settings)
    if not path.is_file():
        return []
    try:
        return load_examples(path)
    except (OSError, ValueError) as exc:
        log.warning("ignoring the learned routing examples: %s", exc)
        return []


def balanced(rows: Sequence[Outcome], settings: Settings, limit: int) -> list[tuple[str, str]]:
    """Redacted, deduplicated examples, as many local as cloud, at most ``limit`` each.

    Only clear outcomes: a text the ledger labelled both ways is left out.
    """
    redactor = Redactor(settings.privacy)
    found: dict[str, dict[str, str]] = {"local": {}, "cloud": {}}
    for row in rows:  # newest first
        label = label_of(row)
        if label is None or MessageShape.of(row.text).code_lines:
            continue  # pasted code is the rules' to route
        text = " ".join(redactor.redact(row.text)[0].split())
        if text:
            found[label].setdefault(text, label)
    both = found["local"].keys() & found["cloud"].keys()
    local = [t for t in found["local"] if t not in both]
    cloud = [t for t in found["cloud"] if t not in both]
    n = min(len(local), len(cloud), limit)
    return [(t, "local") for t in local[:n]] + [(t, "cloud") for t in cloud[:n]]


def held_back(text: str) -> bool:
    """Is this learned example kept out of the fit, to judge the refit on? (stable per text)"""
    return zlib.crc32(text.encode("utf-8")) % HOLD_BACK == 0


def split_fresh(
    fresh: Sequence[tuple[str, str]], shipped: Sequence[tuple[str, str]]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The examples to fit (balanced, at most ``LEARNED_SHARE`` of the shipped ones per
    label) and the ones held back to judge on."""
    judge = [(t, label) for t, label in fresh if held_back(t)]
    fit = {lab: [t for t, label in fresh if label == lab and not held_back(t)] for lab in LABELS}
    cap = min(int(LEARNED_SHARE * sum(label == lab for _, label in shipped)) for lab in LABELS)
    n = min(cap, *(len(texts) for texts in fit.values()))
    return [(t, lab) for lab in LABELS for t in fit[lab][:n]], judge


async def learn(
    settings: Settings,
    ledger: MemoryStore,
    embedder: Embedder,
    *,
    suite: Path,
    tier: str | None = None,
    clock: Callable[[], float] = time.time,
) -> Learned:
    """Refit from the ledger; write the new examples only if held-back accuracy holds."""
    config = settings.memory
    now = clock()
    rows = await queries.routing_outcomes(
        ledger, now - config.learn_days * DAY_S, config.learn_max_examples * 20
    )
    shipped = load_examples(settings.config_path.parent / settings.routing.examples)
    fresh, judged = split_fresh(balanced(rows, settings, config.learn_max_examples), shipped)
    previous = learned_examples(settings)
    heldout = [item for item in load_suite(suite) if item.split == "heldout"]
    if not heldout:
        raise ValueError(f"{suite}: no held-back items (split 'heldout') to check against")
    outcomes = [
        SuiteItem(f"ledger-{i}", text, label, "outcome", "heldout")
        for i, (text, label) in enumerate(judged)
    ]
    tier = tier or settings.routing.default_tier

    async def judge(learned: list[tuple[str, str]]) -> Judged:
        classifier = ExampleClassifier(
            embedder,
            shipped,
            method="knn" if settings.router.classifier == "knn" else "logistic",
            regularisation=settings.router.classifier_c,
            learned=learned,
        )
        router = Router(classifier)
        on_suite = await route_suite(router, settings, tier, heldout)
        on_outcomes = await route_suite(router, settings, tier, outcomes)
        return Judged(score_routing(on_suite), score_routing(on_outcomes) if outcomes else None)

    before = await judge(previous)
    after = await judge(fresh) if fresh else before
    kept = (
        bool(fresh)
        and after.pooled >= before.pooled
        and after.suite.accuracy >= before.suite.accuracy
    )
    if kept:
        path = learned_path(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps({"text": t, "label": label}) for t, label in fresh]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = Learning(
        at=now,
        learned_local=sum(label == "local" for _, label in fresh),
        learned_cloud=sum(label == "cloud" for _, label in fresh),
        accuracy_before=before.suite.accuracy,
        accuracy_after=after.suite.accuracy,
        local_share_before=before.suite.local_share,
        local_share_after=after.suite.local_share,
        kept=kept,
    )
    await queries.record_learning(ledger, run)
    learned = Learned(
        run, fresh if kept else previous, len(judged), before.outcome_accuracy,
        after.outcome_accuracy,
    )  # fmt: skip
    log.info("router learning: %s", learned.summary())
    return learned
