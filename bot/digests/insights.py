"""Instructor insight: what learners asked about, where the course has gaps, which
answers they voted down, how satisfied they were per route, and hand-offs to staff.

Computed from the ledger over one window; learners' words are redacted before they are
shown (the same patterns as prompts sent to the cloud).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from bot.config import Settings
from bot.core.privacy import Redactor
from bot.ledger import queries
from bot.ledger.queries import Reader, Scope

TOP = 5
QUOTE_CHARS = 160


@dataclass(frozen=True, slots=True)
class Insights:
    """The instructor's figures for one window."""

    lessons: tuple[queries.LessonCount, ...] = ()
    gaps: int = 0  # questions with no course material found
    gap_examples: tuple[str, ...] = ()  # a few of them, redacted
    down_voted: tuple[
        tuple[str, str, str, int, int], ...
    ] = ()  # (question, route, model, down, up)
    votes: dict[str, tuple[int, int]] = field(default_factory=dict)  # route -> (up, down)
    handoffs: int = 0
    handoffs_answered: int = 0
    median_wait_s: float | None = None

    @property
    def up(self) -> int:
        return sum(up for up, _ in self.votes.values())

    @property
    def down(self) -> int:
        return sum(down for _, down in self.votes.values())

    def satisfaction(self) -> dict[str, float | None]:
        """Up-vote share per route (None: no votes)."""
        return {
            route: (up / (up + down) if up + down else None)
            for route, (up, down) in sorted(self.votes.items())
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "lessons": [{"source": s, "title": t, "answers": n} for s, t, n in self.lessons],
            "content_gaps": {"count": self.gaps, "examples": list(self.gap_examples)},
            "most_down_voted": [
                {"question": q, "route": r, "model": m, "down": d, "up": u}
                for q, r, m, d, u in self.down_voted
            ],
            "satisfaction": self.satisfaction(),
            "handoffs": {
                "count": self.handoffs,
                "answered": self.handoffs_answered,
                "median_wait_s": self.median_wait_s,
            },
        }


async def compute_insights(
    settings: Settings,
    ledger: Reader,
    start: float,
    end: float,
    scope: Scope | None = None,
    top: int = TOP,
) -> Insights:
    """The insight figures for [start, end), limited to ``scope`` when given."""
    redactor = Redactor(settings.privacy)
    lessons, (gaps, examples), down, routes, handoffs = await asyncio.gather(
        queries.lessons_asked(ledger, start, end, scope, top),
        queries.content_gaps(ledger, start, end, scope, top),
        queries.most_down_voted(ledger, start, end, scope, top),
        queries.votes_by_route(ledger, start, end, scope),
        queries.handoff_figures(ledger, start, end, scope),
    )

    def shown(text: str | None) -> str:
        if not text:
            return "(text no longer kept)"
        redacted, _ = redactor.redact(" ".join(text.split()))
        return redacted if len(redacted) <= QUOTE_CHARS else redacted[: QUOTE_CHARS - 1] + "…"

    waits = handoffs.waits_s
    median = None
    if waits:
        mid = len(waits) // 2
        median = waits[mid] if len(waits) % 2 else (waits[mid - 1] + waits[mid]) / 2
    return Insights(
        lessons=tuple(lessons),
        gaps=gaps,
        gap_examples=tuple(shown(g.text) for g in examples),
        down_voted=tuple((shown(d.text), d.route, d.model, d.down, d.up) for d in down),
        votes={r.route: (int(r.up), int(r.down)) for r in routes},
        handoffs=handoffs.asked,
        handoffs_answered=handoffs.answered,
        median_wait_s=median,
    )


def render_insights(insights: Insights) -> str:
    """The insight section of a digest (and ``/tutor insights``), as Markdown."""
    lines = ["**What learners asked about**"]
    if insights.lessons:
        lines += [f"- {title} ({source}): {n} answers" for source, title, n in insights.lessons]
    else:
        lines.append("- no answers cited the course")
    lines.append(f"**Content gaps**: {insights.gaps} questions found no course material")
    lines += [f"- “{text}”" for text in insights.gap_examples]
    lines.append(
        f"**Feedback**: {insights.up} up, {insights.down} down"
        + "".join(
            f"; {route} {_share(share)} up"
            for route, share in insights.satisfaction().items()
            if share is not None
        )
    )
    if insights.down_voted:
        lines.append("Most voted down:")
        lines += [
            f"- “{q}” ({route}, {model}): {d} down, {u} up"
            for q, route, model, d, u in insights.down_voted
        ]
    wait = (
        f", median wait {_duration(insights.median_wait_s)}"
        if insights.median_wait_s is not None
        else ""
    )
    lines.append(
        f"**Hand-offs to staff**: {insights.handoffs} ({insights.handoffs_answered} answered{wait})"
    )
    return "\n".join(lines)


def _share(share: float) -> str:
    return f"{share * 100:.0f}%"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
