"""Routing quality, decision time and cost per 1,000 questions on the labelled suite.

The classifier learns from eval/router_examples.jsonl only; thresholds were chosen on
the suite's `tune` split; the figures that count are on `heldout`. Goals: accuracy and
recall of cloud-worthy questions >= 0.9, local share >= 70% (target 85%), median
decision <= 1 ms with rules only and <= 20 ms with the classifier (embedding included),
and >= 80% cheaper than all-cloud.

    python bench/routing.py [--gate N]   # N: run the embedded model on N locally routed
                                         # questions to measure the confidence gate's
                                         # escalation rate (0: not measured)
"""

from __future__ import annotations

import argparse
import asyncio
import os

from _common import ROOT, machine, median, p95

from bot.config import load_config
from bot.core.evaluate import (
    Routed,
    estimate_cost,
    load_suite,
    route_suite,
    run_models,
    score_models,
    score_routing,
)
from bot.core.router import ExampleClassifier, Router
from bot.models.registry import ModelRegistry
from knowledge.embeddings import build_embedder


async def main(gate: int) -> None:
    settings = load_config(ROOT / "config.toml", {"TUTOR_DATA_DIR": "/tmp/tutor-bench-routing"})
    suite = load_suite(ROOT / "eval" / "suite.jsonl")
    examples = ROOT / settings.routing.examples
    embedder = build_embedder(settings)
    routers = {"rules only": Router()}
    for method in ("knn", "logistic"):
        classifier = ExampleClassifier.from_jsonl(
            embedder, examples, method=method, regularisation=settings.router.classifier_c
        )
        await classifier.warm()
        routers[f"rules + {method}"] = Router(classifier)

    print(f"machine: {machine()}; suite {len(suite)} messages "
          f"({sum(i.split == 'heldout' for i in suite)} held out)")  # fmt: skip
    held_rows = None
    for name, router in routers.items():
        await route_suite(router, settings, "free", suite[:5])  # warm caches
        rows = await route_suite(router, settings, "free", suite)
        times = [r.decision_ms for r in rows]
        print(f"\n{name}: decision median {median(times):.3f} ms, p95 {p95(times):.3f} ms")
        for split in ("tune", "heldout"):
            s = score_routing([r for r in rows if r.item.split == split])
            print(
                f"  {split:8s} accuracy {s.accuracy:.3f}  recall(cloud) {s.recall:.3f}  "
                f"precision {s.precision:.3f}  local share {s.local_share:.1%}"
            )
        if name == "rules + logistic":
            held_rows = [r for r in rows if r.item.split == "heldout"]
            all_rows = rows

    gate_rate = 0.0
    if gate and held_rows:
        local_items = [r.item for r in all_rows if r.route == "local"][:gate]
        registry = ModelRegistry(settings)
        results = await run_models(settings, registry, ["embedded"], local_items, "free")
        (score,) = score_models(results, settings, "free")
        gate_rate = score.gate_escalation or 0.0
        await registry.aclose()
        print(f"\nconfidence gate on the embedded model: {gate_rate:.0%} of {score.answered} "
              "locally routed answers would escalate")  # fmt: skip

    print("\ncost per 1,000 questions (300-token answers), rules + logistic:")
    oracle = [Routed(r.item, r.item.label, (), 0.0) for r in all_rows]  # perfect routing
    for tier in ("free", "pro"):
        for label, rows in (("all", all_rows), ("heldout", held_rows), ("labels", oracle)):
            c = estimate_cost(settings, tier, rows, answer_tokens=300, gate_escalation=gate_rate)
            print(
                f"  {tier:4s} {label:8s} all on {c.cloud_model}: ${c.all_cloud_per_1000:.3f}  "
                f"routed: ${c.routed_per_1000:.3f} ({c.cloud_share:.1%} cloud)  "
                f"saving {c.saving:.1%}"
            )
    # The mission's baseline: every question on a GPT-4-class model.
    pro_all = estimate_cost(settings, "pro", all_rows, answer_tokens=300)
    free = estimate_cost(settings, "free", all_rows, answer_tokens=300, gate_escalation=gate_rate)
    saving = 1 - free.routed_per_1000 / pro_all.all_cloud_per_1000
    print(
        f"  free tier routed (${free.routed_per_1000:.3f}) against every question on gpt-4o "
        f"(${pro_all.all_cloud_per_1000:.3f}): saving {saving:.1%}"
    )
    close = getattr(embedder, "aclose", None)
    if close:
        await close()


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser()
    parser.add_argument("--gate", type=int, default=0)
    asyncio.run(main(parser.parse_args().gate))
