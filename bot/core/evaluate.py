"""The evaluation harness behind ``tutor eval``: routing quality, models, cost.

A suite is JSONL, one learner message per line: ``{"id", "text", "label": "local" |
"cloud", "reason", "split": "tune" | "heldout", "reference"?}``. The router decides on
every message (no model runs); then, optionally, each named model answers a sample,
with latency, tokens, cost, the confidence gate's verdict and, when a judge model is
configured, a quality grade against the reference answer.
"""

from __future__ import annotations

import csv
import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.core.confidence import assess
from bot.core.jsonl import read_jsonl
from bot.core.pricing import Pricing
from bot.core.prompt import build_prompt
from bot.core.router import Router
from bot.events import ChatMessage, Reason
from bot.models.registry import ModelRegistry
from bot.ports import GenerationParams, ModelError

CHARS_PER_TOKEN = 4  # for estimating prompt tokens where no model was run
JUDGE_PROMPT = (
    "You grade a tutor's answer to a learner's question against a reference answer. "
    "Reply with one digit from 1 (wrong or useless) to 5 (correct and helpful), nothing else."
)


@dataclass(frozen=True, slots=True)
class SuiteItem:
    id: str
    text: str
    label: str
    reason: str = ""
    split: str = "all"
    reference: str | None = None


def load_suite(path: Path) -> list[SuiteItem]:
    def item(number: int, row: Any) -> SuiteItem:
        if row.get("label") not in {"local", "cloud", None}:
            raise ValueError(f"label {row.get('label')!r}")
        return SuiteItem(
            id=str(row.get("id", number)),
            text=str(row["text"]),
            label=row.get("label") or "",
            reason=str(row.get("reason", "")),
            split=str(row.get("split", "all")),
            reference=row.get("reference"),
        )

    return read_jsonl(path, item, "suite line")


@dataclass(slots=True)
class Routed:
    item: SuiteItem
    route: str
    reasons: tuple[Reason, ...]
    decision_ms: float


@dataclass(frozen=True, slots=True)
class RoutingScore:
    n: int
    labelled: int
    accuracy: float
    precision: float  # of the escalations, how many were cloud-worthy
    recall: float  # of the cloud-worthy, how many escalated
    local_share: float
    median_ms: float
    p95_ms: float


async def route_suite(
    router: Router, settings: Settings, tier: str, items: Sequence[SuiteItem]
) -> list[Routed]:
    policy = settings.policy(tier)
    cloud = any(not settings.is_local(m) for m in settings.chain(tier))
    rows = []
    for item in items:
        start = time.perf_counter()
        decision = await router.decide(item.text, policy, cloud_allowed=cloud)
        ms = (time.perf_counter() - start) * 1000
        rows.append(Routed(item, decision.route, decision.reasons, ms))
    return rows


def score_routing(rows: Sequence[Routed]) -> RoutingScore:
    labelled = [r for r in rows if r.item.label]
    tp = sum(r.route == "cloud" and r.item.label == "cloud" for r in labelled)
    fp = sum(r.route == "cloud" and r.item.label == "local" for r in labelled)
    fn = sum(r.route == "local" and r.item.label == "cloud" for r in labelled)
    correct = sum(r.route == r.item.label for r in labelled)
    times = [r.decision_ms for r in rows] or [0.0]
    return RoutingScore(
        n=len(rows),
        labelled=len(labelled),
        accuracy=correct / len(labelled) if labelled else 0.0,
        precision=tp / (tp + fp) if tp + fp else 0.0,
        recall=tp / (tp + fn) if tp + fn else 0.0,
        local_share=sum(r.route == "local" for r in rows) / len(rows) if rows else 0.0,
        median_ms=statistics.median(times),
        p95_ms=_p95(times),
    )


@dataclass(slots=True)
class ModelResult:
    model: str
    item: SuiteItem
    ok: bool
    answer: str = ""
    error: str = ""
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    confidence: float | None = None
    quality: float | None = None  # 0..1 from the judge
    cache_read_tokens: int = 0  # of input_tokens, read from the provider's prompt cache
    cache_write_tokens: int = 0


@dataclass(slots=True)
class ModelScore:
    model: str
    answered: int
    failed: int
    median_ms: float
    p95_ms: float
    median_output_tokens: float
    cost_per_1000: float | None
    gate_escalation: float | None  # share of answers the confidence gate would escalate
    quality: float | None
    errors: list[str] = field(default_factory=list)


async def run_models(
    settings: Settings,
    registry: ModelRegistry,
    models: Sequence[str],
    items: Sequence[SuiteItem],
    tier: str,
    judge: str | None = None,
) -> list[ModelResult]:
    """Each model answers each item once (sequentially, so latencies are comparable)."""
    pricing = Pricing(settings)
    policy = settings.policy(tier)
    results = []
    for name in models:
        model = registry.get(name)
        config = settings.models[name]
        for item in items:
            prompt = build_prompt(settings.tutor.system_prompt, [], item.text)
            start = time.perf_counter()
            try:
                gen = await model.generate(prompt, GenerationParams(max_tokens=config.max_tokens))
            except ModelError as exc:
                results.append(ModelResult(name, item, ok=False, error=exc.reason))
                continue
            result = ModelResult(
                name,
                item,
                ok=True,
                answer=gen.text,
                latency_ms=(time.perf_counter() - start) * 1000,
                ttft_ms=gen.ttft_ms,
                input_tokens=gen.input_tokens,
                output_tokens=gen.output_tokens,
                cost_usd=pricing.generation_cost(name, gen),
                cache_read_tokens=gen.cache_read_tokens,
                cache_write_tokens=gen.cache_write_tokens,
            )
            if settings.is_local(name):
                result.confidence = assess(gen, item.text, policy).score
            if judge and item.reference:
                result.quality = await grade(registry, judge, item, gen.text)
            results.append(result)
    return results


async def grade(registry: ModelRegistry, judge: str, item: SuiteItem, answer: str) -> float | None:
    """The judge model's 1-5 grade, as 0..1; None when it does not answer with a digit."""
    prompt = [
        ChatMessage("system", JUDGE_PROMPT),
        ChatMessage(
            "user",
            f"Question: {item.text}\n\nReference answer: {item.reference}\n\n"
            f"Tutor's answer: {answer}\n\nGrade (1-5):",
        ),
    ]
    try:
        gen = await registry.get(judge).generate(prompt, GenerationParams(max_tokens=4))
    except ModelError:
        return None
    match = re.search(r"[1-5]", gen.text)
    return (int(match.group()) - 1) / 4 if match else None


def score_models(results: Sequence[ModelResult], settings: Settings, tier: str) -> list[ModelScore]:
    threshold = settings.policy(tier).confidence_threshold
    scores = []
    for name in dict.fromkeys(r.model for r in results):
        mine = [r for r in results if r.model == name]
        ok = [r for r in mine if r.ok]
        latencies = [r.latency_ms for r in ok] or [0.0]
        costs = [r.cost_usd for r in ok]
        confidences = [r.confidence for r in ok if r.confidence is not None]
        qualities = [r.quality for r in ok if r.quality is not None]
        scores.append(
            ModelScore(
                model=name,
                answered=len(ok),
                failed=len(mine) - len(ok),
                median_ms=statistics.median(latencies),
                p95_ms=_p95(latencies),
                median_output_tokens=statistics.median([r.output_tokens for r in ok] or [0]),
                cost_per_1000=(
                    1000 * sum(costs) / len(costs)  # type: ignore[arg-type]
                    if costs and None not in costs
                    else None
                ),
                gate_escalation=(
                    sum(c < threshold for c in confidences) / len(confidences)
                    if confidences
                    else None
                ),
                quality=statistics.mean(qualities) if qualities else None,
                errors=sorted({r.error for r in mine if not r.ok}),
            )
        )
    return scores


@dataclass(frozen=True, slots=True)
class CostEstimate:
    cloud_model: str | None
    per_question_usd: float  # on the tier's cloud model
    all_cloud_per_1000: float
    routed_per_1000: float
    cloud_share: float  # routed to the cloud, including the gate's escalations

    @property
    def saving(self) -> float:
        return 1 - self.routed_per_1000 / self.all_cloud_per_1000 if self.all_cloud_per_1000 else 0


def estimate_cost(
    settings: Settings,
    tier: str,
    rows: Sequence[Routed],
    *,
    answer_tokens: int,
    gate_escalation: float = 0.0,
) -> CostEstimate:
    """Cost per 1,000 questions: routed as decided, against every question on the cloud.

    Prompt tokens are estimated from the text; answers are ``answer_tokens`` long.
    ``gate_escalation`` is the share of locally routed questions the confidence gate
    sends on to the cloud (measured by running a local model, else 0).
    """
    cloud_model = next((m for m in settings.chain(tier) if not settings.is_local(m)), None)
    if cloud_model is None or not rows:
        return CostEstimate(cloud_model, 0.0, 0.0, 0.0, 0.0)
    pricing = Pricing(settings)
    system = len(settings.tutor.system_prompt)
    costs = [
        pricing.cost_usd(cloud_model, (system + len(r.item.text)) // CHARS_PER_TOKEN, answer_tokens)
        or 0.0
        for r in rows
    ]
    routed_cloud = [c for r, c in zip(rows, costs, strict=True) if r.route == "cloud"]
    routed_local = [c for r, c in zip(rows, costs, strict=True) if r.route == "local"]
    routed = sum(routed_cloud) + gate_escalation * sum(routed_local)
    share = (len(routed_cloud) + gate_escalation * len(routed_local)) / len(rows)
    return CostEstimate(
        cloud_model,
        per_question_usd=sum(costs) / len(costs),
        all_cloud_per_1000=1000 * sum(costs) / len(costs),
        routed_per_1000=1000 * routed / len(rows),
        cloud_share=share,
    )


def write_report(
    out: Path,
    *,
    tier: str,
    routing: dict[str, RoutingScore],
    rows: Sequence[Routed],
    models: Sequence[ModelScore],
    results: Sequence[ModelResult],
    cost: CostEstimate,
) -> list[Path]:
    """report.md, routing.csv, models.csv and chart.png in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.md", out / "routing.csv", out / "models.csv", out / "chart.png"]
    paths[0].write_text(_markdown(tier, routing, models, cost), encoding="utf-8")
    with paths[1].open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "split", "label", "route", "correct", "reasons", "decision_ms"])
        for r in rows:
            writer.writerow(
                [r.item.id, r.item.split, r.item.label, r.route, r.route == r.item.label,
                 " ".join(map(str, r.reasons)), f"{r.decision_ms:.3f}"]
            )  # fmt: skip
    with paths[2].open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["model", "id", "ok", "error", "latency_ms", "ttft_ms", "input_tokens",
             "output_tokens", "cost_usd", "confidence", "quality", "cache_read_tokens",
             "cache_write_tokens"]
        )  # fmt: skip
        for m in results:
            writer.writerow(
                [m.model, m.item.id, m.ok, m.error, f"{m.latency_ms:.1f}", m.ttft_ms,
                 m.input_tokens, m.output_tokens, m.cost_usd, m.confidence, m.quality,
                 m.cache_read_tokens, m.cache_write_tokens]
            )  # fmt: skip
    _chart(paths[3], models, cost)
    return paths


def _markdown(
    tier: str, routing: dict[str, RoutingScore], models: Sequence[ModelScore], cost: CostEstimate
) -> str:
    lines = [f"# Tutor evaluation (tier {tier})", "", "## Routing", ""]
    lines += [
        "| split | messages | accuracy | precision | recall | local share "
        "| decision median | p95 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for split, s in routing.items():
        lines.append(
            f"| {split} | {s.n} | {s.accuracy:.3f} | {s.precision:.3f} | {s.recall:.3f} "
            f"| {s.local_share:.1%} | {s.median_ms:.2f} ms | {s.p95_ms:.2f} ms |"
        )
    lines += ["", "## Cost per 1,000 questions", ""]
    if cost.cloud_model:
        lines += [
            f"- all on `{cost.cloud_model}`: ${cost.all_cloud_per_1000:.4f}",
            f"- routed ({cost.cloud_share:.1%} to the cloud, confidence-gate escalations "
            f"included): ${cost.routed_per_1000:.4f}",
            f"- saving: {cost.saving:.1%}",
        ]
    else:
        lines.append("- this tier has no cloud model: every answer is local and free")
    if models:
        lines += ["", "## Models", ""]
        lines += [
            "| model | answered | failed | median | p95 | output tokens | cost /1000 "
            "| gate would escalate | quality |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for m in models:
            lines.append(
                f"| {m.model} | {m.answered} | {m.failed} | {m.median_ms:.0f} ms "
                f"| {m.p95_ms:.0f} ms | {m.median_output_tokens:.0f} | "
                f"{_money(m.cost_per_1000)} | {_share(m.gate_escalation)} "
                f"| {_share(m.quality)} |" + (f" errors: {', '.join(m.errors)}" if m.errors else "")
            )
    return "\n".join(lines) + "\n"


def _chart(path: Path, models: Sequence[ModelScore], cost: CostEstimate) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    fig.subplots_adjust(wspace=0.35)
    left.bar(["all cloud", "routed"], [cost.all_cloud_per_1000, cost.routed_per_1000],
             color=["#c0504d", "#4f81bd"])  # fmt: skip
    left.set_title("Cost per 1,000 questions (USD)")
    answered = [m for m in models if m.answered]
    right.bar([m.model for m in answered], [m.median_ms for m in answered], color="#9bbb59")
    right.set_title("Median latency per model (ms)")
    if not answered:
        right.text(0.5, 0.5, "no model runs", ha="center", va="center")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
