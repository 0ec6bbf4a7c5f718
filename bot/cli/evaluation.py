"""``tutor route``, ``tutor eval`` and ``tutor export-finetune``: the router, explained."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.app import BotApp
from bot.config import Settings
from bot.core.evaluate import (
    estimate_cost,
    load_suite,
    route_suite,
    run_models,
    score_models,
    score_routing,
    write_report,
)
from bot.core.finetune import export_finetune


def add_parsers(sub: Any) -> None:
    route = sub.add_parser("route", help="the pre-generation routing decision (no model runs)")
    source = route.add_mutually_exclusive_group(required=True)
    source.add_argument("text", nargs="?")
    source.add_argument("--jsonl", type=Path, help='one {"text": ...} per line')
    route.add_argument("--json", action="store_true", help="print one JSON object")
    route.add_argument("--tier", default=None)

    ev = sub.add_parser("eval", help="compare routing and models on a labelled suite")
    ev.add_argument("--suite", type=Path, default=Path("eval/suite.jsonl"))
    ev.add_argument("--split", default="all", help="tune, heldout or all")
    ev.add_argument("--tier", default=None)
    ev.add_argument("--models", default="", help="comma-separated models to run (none: routing)")
    ev.add_argument("--limit", type=int, default=20, help="messages per model")
    ev.add_argument("--judge", default=None, help="a configured model that grades answers")
    ev.add_argument("--answer-tokens", type=int, default=300, help="assumed cloud answer size")
    ev.add_argument("--out", type=Path, default=None, help="report folder (data_dir/eval)")

    ft = sub.add_parser("export-finetune", help="escalations and cloud answers as chat JSONL")
    ft.add_argument("--out", type=Path, default=Path("finetune.jsonl"))
    ft.add_argument("--since-days", type=float, default=None)


async def cmd_route(settings: Settings, args: argparse.Namespace) -> int:
    tier = args.tier or settings.routing.default_tier
    policy = settings.policy(tier)
    cloud = any(not settings.is_local(m) for m in settings.chain(tier))
    async with BotApp(settings, warm_router=True) as app:
        if args.jsonl is None:
            decision = await app.router.decide(args.text, policy, cloud_allowed=cloud)
            out = {"route": decision.route, "reasons": [str(r) for r in decision.reasons]}
            print(json.dumps(out) if args.json else f"{out['route']}: {', '.join(out['reasons'])}")
            return 0
        status = 0
        for number, line in enumerate(_lines(args.jsonl), 1):
            try:
                text = json.loads(line)["text"]
                if not isinstance(text, str):
                    raise TypeError("text must be a string")
            except (ValueError, KeyError, TypeError) as exc:
                print(json.dumps({"route": None, "reasons": [], "error": f"line {number}: {exc}"}))
                status = 1
                continue
            decision = await app.router.decide(text, policy, cloud_allowed=cloud)
            reasons = [str(r) for r in decision.reasons]
            print(json.dumps({"route": decision.route, "reasons": reasons}))
        return status


async def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    tier = args.tier or settings.routing.default_tier
    try:
        suite = load_suite(args.suite)
    except (OSError, ValueError) as exc:
        print(f"tutor eval: {exc}", file=sys.stderr)
        return 2
    items = [i for i in suite if args.split in ("all", i.split)]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in [*models, args.judge or ""] if m and m not in settings.models]
    if unknown:
        print(f"tutor eval: unknown models {unknown}", file=sys.stderr)
        return 2
    async with BotApp(settings, warm_router=True) as app:
        rows = await route_suite(app.router, settings, tier, items)
        splits = {
            s: [r for r in rows if r.item.split == s] for s in dict.fromkeys(i.split for i in items)
        }
        routing = {s: score_routing(r) for s, r in splits.items()} | {"all": score_routing(rows)}
        results = await run_models(
            settings, app.registry, models, items[: args.limit], tier, judge=args.judge
        )
    scores = score_models(results, settings, tier)
    gate = next((s.gate_escalation for s in scores if s.gate_escalation is not None), 0.0)
    cost = estimate_cost(
        settings, tier, rows, answer_tokens=args.answer_tokens, gate_escalation=gate
    )
    out = args.out or settings.data_dir / "eval"
    paths = write_report(
        out, tier=tier, routing=routing, rows=rows, models=scores, results=results, cost=cost
    )
    print(paths[0].read_text(encoding="utf-8"))
    print("written: " + ", ".join(str(p) for p in paths))
    return 0


async def cmd_export_finetune(settings: Settings, args: argparse.Namespace) -> int:
    async with BotApp(settings) as app:
        count = await export_finetune(settings, app.ledger, args.out, since_days=args.since_days)
    print(f"wrote {count} escalated questions with their cloud answers to {args.out}")
    return 0


def _lines(path: Path) -> list[str]:
    text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


COMMANDS = {"route": cmd_route, "eval": cmd_eval, "export-finetune": cmd_export_finetune}
