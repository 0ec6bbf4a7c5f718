"""The router learns from outcomes: refit the classifier on the shipped examples plus the
ledger's verdicts, and keep the new model only if it routes the held-back suite as well.

Labels from the ledger (``label_of``): a local answer that passed the confidence gate
(and, once votes are recorded, was not voted down) teaches "local"; a question the gate
escalated (or, with votes, a local answer voted down) teaches "cloud". The examples are
redacted (personal data replaced), deduplicated, balanced (as many of each label) and
bounded (``[memory] learn_max_examples`` per label, newest first). They are written to
``<data_dir>/router_learned.jsonl``, which BotApp adds to the shipped examples.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.config import Settings
from bot.core.evaluate import load_suite, route_suite, score_routing
from bot.core.privacy import Redactor
from bot.core.router import ExampleClassifier, MessageShape, Router, load_examples
from bot.events import ReasonCode
from bot.ledger import queries
from bot.ledger.queries import Learning, Outcome
from bot.memory.memory import MemoryStore
from bot.ports import Embedder

log = logging.getLogger(__name__)

LEARNED_FILE = "router_learned.jsonl"
DAY_S = 86_400
NOT_LEARNED = {"course", "none", "memory"}  # answers made without a model say nothing

Label = Literal["local", "cloud"]


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

    def summary(self) -> str:
        r = self.run
        verdict = "kept the new model" if r.kept else "kept the previous model"
        return (
            f"learned from {r.learned_local} local and {r.learned_cloud} escalated answers; "
            f"held-back accuracy {r.accuracy_before:.3f} -> {r.accuracy_after:.3f}, "
            f"local share {r.local_share_before:.1%} -> {r.local_share_after:.1%}: {verdict}"
        )


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
    """Redacted, deduplicated examples, as many local as cloud, at most ``limit`` each."""
    redactor = Redactor(settings.privacy)
    found: dict[str, dict[str, str]] = {"local": {}, "cloud": {}}
    for row in rows:  # newest first
        label = label_of(row)
        if label is None or MessageShape.of(row.text).code_lines:
            continue  # pasted code is the rules' to route
        text = " ".join(redactor.redact(row.text)[0].split())
        if text and text not in found["local"] and text not in found["cloud"]:
            found[label].setdefault(text, label)
    n = min(len(found["local"]), len(found["cloud"]), limit)
    return [(t, "local") for t in list(found["local"])[:n]] + [
        (t, "cloud") for t in list(found["cloud"])[:n]
    ]


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
    fresh = balanced(rows, settings, config.learn_max_examples)
    shipped = load_examples(settings.config_path.parent / settings.routing.examples)
    previous = learned_examples(settings)
    heldout = [item for item in load_suite(suite) if item.split == "heldout"]
    if not heldout:
        raise ValueError(f"{suite}: no held-back items (split 'heldout') to check against")
    tier = tier or settings.routing.default_tier

    async def judge(examples: list[tuple[str, str]]) -> tuple[float, float]:
        classifier = ExampleClassifier(
            embedder,
            examples,
            method="knn" if settings.router.classifier == "knn" else "logistic",
            regularisation=settings.router.classifier_c,
        )
        score = score_routing(await route_suite(Router(classifier), settings, tier, heldout))
        return score.accuracy, score.local_share

    before, share_before = await judge(shipped + previous)
    after, share_after = await judge(shipped + fresh) if fresh else (before, share_before)
    kept = bool(fresh) and after >= before
    if kept:
        path = learned_path(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps({"text": t, "label": label}) for t, label in fresh]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = Learning(
        at=now,
        learned_local=sum(label == "local" for _, label in fresh),
        learned_cloud=sum(label == "cloud" for _, label in fresh),
        accuracy_before=before,
        accuracy_after=after,
        local_share_before=share_before,
        local_share_after=share_after,
        kept=kept,
    )
    await queries.record_learning(ledger, run)
    learned = Learned(run, fresh if kept else previous)
    log.info("router learning: %s", learned.summary())
    return learned
