"""Digest computation over one million ledger rows.

Fills a temporary ledger with 1,000,000 interactions in one month (and 200,000 in
the month before, for the comparison), inserted with executemany through the
ledger's own schema and rollup trigger, then times building the monthly digest
(all figures, both months, every tier) and, separately, drawing its chart.

    python bench/digest.py [--quick] [--backend sqlite|postgres|both]   # --quick: 200,000 rows

On PostgreSQL (a throwaway local cluster, tests/postgres_server.py) the rows are bulk
loaded with COPY with the rollup trigger off, then the rollups are rebuilt from the rows
with the ledger's own statements (the tests check a rebuild equals what the trigger
keeps), then ANALYZE runs, as autovacuum would after such a load.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Settings, load_config
from bot.digests.chart import render_chart
from bot.digests.service import Digests
from bot.digests.windows import complete_window
from bot.ledger.store import COLUMNS, INSERT, Ledger
from tests.conftest import TEST_CONFIG, write_config
from tests.ledger_helpers import LOW_CONFIDENCE, PASTED_CODE, cloud, interaction
from tests.postgres_server import PostgresCluster, unavailable

GOAL_S = 2.0
LEARNERS = 8000  # as many as the founder in design.md has
WORKSPACES = 5
ZONE = ZoneInfo("Europe/Paris")
CONFIG = TEST_CONFIG + '\n[digests]\ntimezone = "Europe/Paris"\n'


def templates(ledger: Ledger, n: int = 3000) -> list[tuple[object, ...]]:
    """Realistic rows: 75% local, tiers 70/30, some failures and unpriced answers."""
    rnd = random.Random(5)
    rows = []
    for _ in range(n):
        tier = "free" if rnd.random() < 0.7 else "enterprise"
        kind = rnd.random()
        common = {
            "tier": tier,
            "tokens": (rnd.randint(50, 3000), rnd.randint(20, 800)),
            "latency_ms": rnd.lognormvariate(6.8, 0.7),
        }
        if kind < 0.2:
            item = cloud(0, reasons=(rnd.choice([PASTED_CODE, LOW_CONFIDENCE]),), **common)
        elif kind < 0.22:
            item = interaction(0, model="none", outcome="failed", **common)
        else:
            item = interaction(0, **common)
        rows.append(ledger.row(item))
    return rows


def spread(ledger: Ledger, start: float, end: float, rows: int) -> Iterator[tuple[object, ...]]:
    """``rows`` interactions spread evenly over [start, end), from LEARNERS learners."""
    pool = templates(ledger)
    step = (end - start) / rows
    ws, user = COLUMNS.index("workspace"), COLUMNS.index("user")
    assert user == ws + 2  # workspace, channel, user

    def row(i: int) -> tuple[object, ...]:
        t, learner = pool[i % len(pool)], (i * 7919) % LEARNERS
        return (start + i * step, *t[1:ws], f"g{learner % WORKSPACES}", t[ws + 1],
                f"u{learner}", *t[user + 1 :])  # fmt: skip

    return (row(i) for i in range(rows))


def fill(path: Path, rows: Iterable[tuple[object, ...]]) -> None:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -262144")  # 256 MB: the indexes stay in memory
        db.executemany(INSERT, rows)


async def fill_postgres(url: str, rows: Iterable[tuple[object, ...]]) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("ALTER TABLE interactions DISABLE TRIGGER interactions_rollup")
        await conn.copy_records_to_table("interactions", records=rows, columns=list(COLUMNS))
        await conn.execute("ALTER TABLE interactions ENABLE TRIGGER interactions_rollup")
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="200,000 rows")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    args = parser.parse_args()
    rows = 200_000 if args.quick else 1_000_000
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if "postgres" in backends and (reason := unavailable()):
        sys.exit(f"cannot start PostgreSQL here: {reason}")
    for backend in backends:
        print(f"\n== {backend} ==")
        if backend == "sqlite":
            await run(rows, None)
            continue
        cluster = PostgresCluster(durable=True).start()
        try:
            await run(rows, cluster)
        finally:
            cluster.stop()


async def run(rows: int, cluster: PostgresCluster | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings: Settings = load_config(write_config(Path(tmp), CONFIG), {})
        path: Path | None = Path(tmp) / "ledger.sqlite3"
        if cluster is not None:
            url = await cluster.new_schema_url()
            ledger_section = settings.ledger.model_copy(update={"url": url})
            settings = settings.model_copy(update={"ledger": ledger_section})
            path = None
        ledger = await Ledger(settings, path=path, purge_every_s=None).open()
        await ledger.aclose()  # the schema, migrated
        october = complete_window("month", datetime(2026, 11, 3, tzinfo=ZONE), ZONE)
        september = october.previous()
        t0 = time.perf_counter()
        before = spread(ledger, september.start_ts, september.end_ts, rows // 5)
        during = spread(ledger, october.start_ts, october.end_ts, rows)
        if path is not None:
            fill(path, before)
            fill(path, during)
        else:
            await fill_postgres(settings.ledger.url, before)
            await fill_postgres(settings.ledger.url, during)
            async with Ledger(settings, purge_every_s=None) as loaded:
                await loaded.rebuild_rollups()
                await loaded.write(("ANALYZE", ()))
        print(f"inserted {rows + rows // 5:,} rows in {time.perf_counter() - t0:.1f} s")

        async with Ledger(settings, path=path, purge_every_s=None) as ledger:
            digests = Digests(settings, ledger)
            timings, digest = [], None
            for _ in range(5):
                t0 = time.perf_counter()
                digest = await digests.build(october)
                timings.append(time.perf_counter() - t0)
            assert digest is not None
            charts = []
            for _ in range(3):
                t0 = time.perf_counter()
                png = await asyncio.to_thread(render_chart, digest)
                charts.append(time.perf_counter() - t0)
    total = digest.total[0]
    print(
        f"digest of {digest.window.label}: {total.questions:,} questions, "
        f"{total.learners:,} learners, {len(digest.tiers)} tiers, vs "
        f"{digest.total[1].questions:,} the month before"
    )
    print(
        f"digest computation: median {statistics.median(timings):.3f} s, "
        f"min {min(timings):.3f} s over {len(timings)} runs (goal < {GOAL_S:.0f} s)"
    )
    print(
        f"chart (PNG, {len(png) // 1024} KB): median {statistics.median(charts):.3f} s "
        f"(first draw includes importing matplotlib: {charts[0]:.3f} s)"
    )


if __name__ == "__main__":
    asyncio.run(main())
