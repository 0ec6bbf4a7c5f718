"""``tutor stats``: the ledger as tables in the terminal."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from rich import box
from rich.table import Table

from bot.config import Period
from bot.digests.compute import Digest
from bot.digests.service import Digests
from bot.digests.text import fmt_money, fmt_ms, fmt_share
from bot.ledger import queries
from bot.ledger.schema import QUARTER_S
from bot.ledger.store import Ledger

COMPACT = {"box": box.SIMPLE_HEAD, "pad_edge": False, "collapse_padding": True}


async def stats_tables(ledger: Ledger, digests: Digests, period: Period) -> list[Table]:
    digest = await digests.on_demand(period)
    return [
        await _overview(ledger, digests),
        _tiers(digest),
        _reasons(digest),
        await _models(ledger, digest),
        await _posts(ledger, digests),
    ]


async def stats_summary(digests: Digests, period: Period) -> dict[str, Any]:
    """``tutor stats --json``: the period's figures as one object (design.md's contract).

    ``feedback`` counts the votes cast in the period, ``handoffs`` the hand-offs to staff;
    ``insights`` holds the instructor's figures.
    """
    digest = await digests.on_demand(period)
    now = digest.total[0]
    insight = await digests.insights_for(digest.window)
    return {
        "period": period,
        "window": digest.window.label,
        "questions": now.questions,
        "by_route": {
            "local": now.local_answers,
            "memory": now.memory_answers,
            "cloud": now.answers - now.local_answers - now.memory_answers,
        },
        "feedback": {"up": insight.up, "down": insight.down},
        "handoffs": insight.handoffs,
        "failed": now.failures,
        "local_share": now.local_share,
        "spend_usd": round(now.spend_usd, 6),
        "saved_usd": round(now.saved_usd, 6),
        "memory_share": now.memory_share,
        "memory_saved_usd": round(now.memory_saved_usd, 6),
        "top_reasons": dict(now.reasons),
        "tiers": {name: figures.questions for name, (figures, _) in digest.tiers.items()},
        "insights": insight.as_json(),
    }


async def _overview(ledger: Ledger, digests: Digests) -> Table:
    info = await queries.overview(ledger)
    size = sum(p.stat().st_size for p in ledger.path.parent.glob(ledger.path.name + "*"))
    table = Table(title="Ledger", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", overflow="fold")
    table.add_row("file", f"{ledger.path} ({size / 1e6:.1f} MB, schema v{info.schema_version})")
    table.add_row("interactions", f"{info.interactions:,}")
    table.add_row("learners", f"{info.learners:,}")
    table.add_row(
        "first / last", f"{_when(info.first_at, digests)} / {_when(info.last_at, digests)}"
    )
    days = ledger.settings.ledger.text_retention_days
    kept = f"kept {days} days" if days else "not stored"
    table.add_row("with message text", f"{info.with_text:,} ({kept})")
    return table


def _tiers(digest: Digest) -> Table:
    table = Table(title=f"Per tier, {digest.window.label}", **COMPACT)
    table.add_column("tier")
    for name in ("asked", "learners", "local", "spend", "saved", "p50", "p95", "failed"):
        table.add_column(name, justify="right")
    rows = [*digest.tiers.items()]
    if len(rows) > 1:
        rows.append(("all", digest.total))
    for name, (now, _) in rows:
        table.add_row(
            name,
            f"{now.questions:,}",
            f"{now.learners:,}",
            fmt_share(now.local_share),
            fmt_money(now.spend_usd, now.unknown_cost),
            fmt_money(now.saved_usd, now.unknown_saved),
            fmt_ms(now.p50_ms),
            fmt_ms(now.p95_ms),
            f"{now.failures:,}",
            style="bold" if name == "all" else None,
        )
    return table


def _reasons(digest: Digest) -> Table:
    table = Table(title="Why the cloud answered", **COMPACT)
    for name in ("tier", "reason", "answers"):
        table.add_column(name, justify="right" if name == "answers" else "left")
    for name, (now, _) in digest.tiers.items():
        for reason, count in now.reasons:
            table.add_row(name, reason, f"{count:,}")
    return table


async def _models(ledger: Ledger, digest: Digest) -> Table:
    rows = await queries.usage_by_model(
        ledger,
        math.floor(digest.window.start_ts / QUARTER_S),
        math.ceil(digest.window.end_ts / QUARTER_S),
    )
    table = Table(title="Per model, same period", **COMPACT)
    for name in ("model", "route", "messages", "input tokens", "output tokens", "cost"):
        table.add_column(name, justify="left" if name in {"model", "route"} else "right")
    for model, route, n, tokens_in, tokens_out, cost, unknown in rows:
        table.add_row(
            model, route, f"{n:,}", f"{tokens_in:,}", f"{tokens_out:,}", fmt_money(cost, unknown)
        )
    return table


async def _posts(ledger: Ledger, digests: Digests) -> Table:
    rows = await queries.latest_digest_posts(ledger, limit=10)
    table = Table(title="Latest digest posts", **COMPACT)
    for name in ("period", "target", "status", "when", "error"):
        table.add_column(name)
    for period, target, status, when, error in rows:
        table.add_row(period, target, status, _when(when, digests), error or "")
    return table


def _when(ts: float | None, digests: Digests) -> str:
    if ts is None:
        return "-"
    return f"{datetime.fromtimestamp(ts, digests.zone):%Y-%m-%d %H:%M %Z}"
