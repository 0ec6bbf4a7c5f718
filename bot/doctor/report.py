"""``tutor doctor``: run every check, print pass/warn/fail with the fix, exit 1 on a fail.

A check is a Probe (``bot.ports``): it returns CheckResults and names problems itself.
Here each one is also bounded in time and shielded, so a check that hangs or crashes is
one ``fail`` line saying so, never a hung doctor or a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.ports import CheckResult, Probe

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 15.0
STYLES = {"pass": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}
NO_INDEX = CheckResult(
    "course index",
    "skip",
    "not configured: answers are not grounded in course material",
    "index the course with `tutor ingest PATH`",
)


async def run_probes(
    probes: Sequence[tuple[str, Probe]], timeout_s: float = CHECK_TIMEOUT_S
) -> list[CheckResult]:
    """Every probe's results, in order; the probes run concurrently."""
    batches = await asyncio.gather(*(_guarded(name, p, timeout_s) for name, p in probes))
    return [result for batch in batches for result in batch]


async def check_index(probe: Probe | None, timeout_s: float = CHECK_TIMEOUT_S) -> list[CheckResult]:
    """The course index's check: the hook the knowledge package fills (``BotApp.index_check``).

    Without a hook, the index is "not configured" (skip), which is no failure.
    """
    if probe is None:
        return [NO_INDEX]
    return await _guarded("course index", probe, timeout_s)


async def _guarded(name: str, probe: Probe, timeout_s: float) -> list[CheckResult]:
    try:
        async with asyncio.timeout(timeout_s):
            return list(await probe())
    except TimeoutError:
        return [CheckResult(name, "fail", f"the check did not finish within {timeout_s:.0f} s", "")]
    except Exception as exc:
        log.debug("check %s crashed", name, exc_info=True)
        return [CheckResult(name, "fail", f"the check failed: {type(exc).__name__}: {exc}", "")]


def exit_code(results: Sequence[CheckResult]) -> int:
    return 1 if any(r.status == "fail" for r in results) else 0


def summary(results: Sequence[CheckResult]) -> str:
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "warn", "fail", "skip")}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n)


def print_table(results: Sequence[CheckResult], console: Console | None = None) -> None:
    """The results as a table (Check, Status, Detail, Fix) and a one-line summary."""
    console = console or Console()
    table = Table(title="tutor doctor", show_lines=False)
    for column in ("Check", "Status", "Detail", "Fix"):
        table.add_column(column, overflow="fold")
    for r in results:  # Text: details such as "[discord]" are not markup
        table.add_row(
            Text(r.name), Text(r.status, style=STYLES[r.status]), Text(r.detail), Text(r.fix)
        )
    console.print(table)
    console.print(summary(results))


def to_json(results: Sequence[CheckResult]) -> str:
    return json.dumps(
        {"ok": exit_code(results) == 0, "checks": [asdict(r) for r in results]},
        ensure_ascii=False,
    )
