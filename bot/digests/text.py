"""A digest as text: one monospace table per tier, readable on Discord, Slack and a terminal."""

from __future__ import annotations

from bot.digests.compute import BudgetUse, Digest, Figures

LABEL, VALUE, CHANGE = 20, 11, 11


def render_text(digest: Digest) -> str:
    window, previous = digest.window, digest.previous
    lines = [f"Tutor usage digest: {window.label}"]
    if digest.scope is not None:
        workspace = digest.scope.workspace or "-"
        lines.append(f"Only {digest.scope.platform} workspace {workspace}.")
    compared = "the period before" if not window.complete else f"the {window.period} before"
    prices = f" Prices as of {digest.prices_as_of}." if digest.prices_as_of else ""
    lines.append(f"Compared with {compared} ({previous.label}).{prices}")
    if digest.empty:
        lines.append("No questions were recorded in either period.")
        return "\n".join(lines)

    table = [_row("", "current", "previous", "change")]
    blocks = [("all tiers", digest.total, None)] if len(digest.tiers) > 1 else []
    blocks += [(name, pair, digest.budgets.get(name)) for name, pair in digest.tiers.items()]
    for name, (now, before), budget in blocks:
        table += ["", name.upper(), *_figures(now, before)]
        if budget is not None:
            table.append(_budget_row(*budget))
        if now.reasons:
            table.append("  escalated: " + ", ".join(f"{r} {n:,}" for r, n in now.reasons))
    lines += ["```", *table, "```", *_notes(digest)]
    return "\n".join(lines)


def _figures(now: Figures, before: Figures) -> list[str]:
    n, b = now, before
    rows = [
        ("questions", f"{n.questions:,}", f"{b.questions:,}", _rel(n.questions, b.questions)),
        ("learners", f"{n.learners:,}", f"{b.learners:,}", _rel(n.learners, b.learners)),
        (
            "local share",
            fmt_share(n.local_share),
            fmt_share(b.local_share),
            _points(n.local_share, b.local_share),
        ),
        *_memory_rows(now, before),
        (
            "cloud spend",
            fmt_money(n.spend_usd, n.unknown_cost),
            fmt_money(b.spend_usd, b.unknown_cost),
            _rel(n.spend_usd, b.spend_usd),
        ),
        ("saved vs all-cloud", _saved(n), _saved(b), _rel(n.saved_usd, b.saved_usd)),
        ("latency p50", fmt_ms(n.p50_ms), fmt_ms(b.p50_ms), _rel(n.p50_ms, b.p50_ms)),
        ("latency p95", fmt_ms(n.p95_ms), fmt_ms(b.p95_ms), _rel(n.p95_ms, b.p95_ms)),
        ("failures", f"{n.failures:,}", f"{b.failures:,}", f"{n.failures - b.failures:+,}"),
    ]
    return [_row(*row) for row in rows]


def _memory_rows(now: Figures, before: Figures) -> list[tuple[str, str, str, str]]:
    """Course memory's share and what it saved, once it has answered anything."""
    if not (now.memory_answers or before.memory_answers):
        return []
    n, b = now, before
    return [
        (
            "memory share",
            fmt_share(n.memory_share),
            fmt_share(b.memory_share),
            _points(n.memory_share, b.memory_share),
        ),
        (
            "cloud share",
            fmt_share(n.cloud_share),
            fmt_share(b.cloud_share),
            _points(n.cloud_share, b.cloud_share),
        ),
        (
            "saved by memory",
            fmt_money(n.memory_saved_usd),
            fmt_money(b.memory_saved_usd),
            _rel(n.memory_saved_usd, b.memory_saved_usd),
        ),
    ]


def _budget_row(now: BudgetUse, before: BudgetUse) -> str:
    return _row(
        f"budget ${now.budget_usd:,.0f}/month",
        f"{now.used * 100:.1f}%" + ("+?" if now.unknown_cost else ""),
        f"{before.used * 100:.1f}%" + ("+?" if before.unknown_cost else ""),
        _points(now.used, before.used),
    )


def _notes(digest: Digest) -> list[str]:
    now = digest.total[0]
    notes = []
    if now.unknown_cost:
        notes.append(
            f"+? The cost of {_count(now.unknown_cost, 'answer')} from models missing from "
            "[prices] is unknown and not included."
        )
    if now.unknown_saved:
        notes.append(
            f"Saved is unknown for {_count(now.unknown_saved, 'local answer')} in a tier with "
            "no priced cloud model to compare with."
        )
    if any(budget[0].used >= 1 for budget in digest.budgets.values()):
        notes.append("A tier is over its monthly budget.")
    if (run := digest.learning) is not None:
        verdict = "now in use" if run.kept else "not used: the previous model routed better"
        notes.append(
            f"The router learned from {run.learned_local:,} local answers that passed and "
            f"{run.learned_cloud:,} escalations: local share on the held-back suite "
            f"{fmt_share(run.local_share_before)} -> {fmt_share(run.local_share_after)}, "
            f"accuracy {run.accuracy_before:.1%} -> {run.accuracy_after:.1%} ({verdict})."
        )
    return notes


def _row(label: str, now: str, before: str, change: str) -> str:
    return f"{label:<{LABEL}}{now:>{VALUE}}{before:>{VALUE}}{change:>{CHANGE}}".rstrip()


def _rel(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    if before == 0:
        return "new" if now else ""
    return f"{(now - before) / before * 100:+.0f}%"


def _points(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    return f"{(now - before) * 100:+.1f} pts"


def fmt_share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def fmt_money(value: float, unknown: int = 0) -> str:
    if value == 0:
        text = "$0"
    elif value < 0.0001:
        text = "<$0.0001"
    else:
        text = f"${value:.4f}" if value < 0.01 else f"${value:,.2f}"
    return text + ("+?" if unknown else "")


def _saved(figures: Figures) -> str:
    if figures.unknown_saved and not figures.saved_usd:
        return "unknown"
    return fmt_money(figures.saved_usd, figures.unknown_saved)


def fmt_ms(value: float | None) -> str:
    """Two significant digits: the latency histogram is only that precise."""
    if value is None:
        return "-"
    if value < 1000:
        return f"{float(f'{value:.2g}'):.0f} ms"
    return f"{value / 1000:.1f} s" if value < 100_000 else f"{value / 1000:.0f} s"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
