"""Ledger write throughput: interactions recorded (committed) per second, sustained.

Compares the writer's group commit (every row waiting is committed in one
transaction) with one commit per row, under many concurrent replies and one at a
time. "Recorded" means record() returned, i.e. the row is committed.

    python bench/ledger_write.py [--quick] [--backend sqlite|postgres|both]

PostgreSQL runs on a throwaway local cluster (tests/postgres_server.py) with its
default durability (fsync on, synchronous_commit on), on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Settings, load_config
from bot.ledger.store import Ledger
from tests.conftest import TEST_CONFIG, write_config
from tests.ledger_helpers import PASTED_CODE, cloud, interaction
from tests.postgres_server import PostgresCluster, unavailable

GOAL = 5000


async def scenario(
    settings: Settings,
    rows: int,
    concurrency: int,
    max_batch: int,
    cluster: PostgresCluster | None = None,
) -> dict[str, float]:
    items = [
        (cloud if i % 4 == 0 else interaction)(
            time.time() + i * 0.01, user=f"u{i % 5000}", reasons=(PASTED_CODE,)
        )
        for i in range(rows)
    ]
    done: list[float] = []
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        path: Path | None = Path(tmp) / "bench.sqlite3"
        if cluster is not None:  # a fresh schema of the PostgreSQL server
            url = await cluster.new_schema_url()
            ledger_section = settings.ledger.model_copy(update={"url": url})
            settings = settings.model_copy(update={"ledger": ledger_section})
            path = None
        async with Ledger(settings, path=path, purge_every_s=None, max_batch=max_batch) as ledger:

            async def learner(k: int) -> None:
                for item in items[k::concurrency]:
                    t0 = time.perf_counter()
                    await ledger.record(item)
                    done.append(time.perf_counter())
                    latencies.append(done[-1] - t0)

            start = time.perf_counter()
            await asyncio.gather(*(learner(k) for k in range(concurrency)))
            elapsed = time.perf_counter() - start
            commits = ledger.commits
    # Sustained: the slowest and the median whole second of the run.
    per_second = [0] * int(elapsed)
    for t in done:
        second = int(t - start)
        if second < len(per_second):
            per_second[second] += 1
    return {
        "rate": rows / elapsed,
        "slowest_second": min(per_second) if per_second else float("nan"),
        "median_second": statistics.median(per_second) if per_second else float("nan"),
        "rows_per_commit": rows / commits,
        "ack_p50_ms": statistics.median(latencies) * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rows (about 20 s)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    args = parser.parse_args()
    rows = 20_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_config(write_config(Path(tmp), TEST_CONFIG), {})
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if "postgres" in backends and (reason := unavailable()):
        sys.exit(f"cannot start PostgreSQL here: {reason}")
    for backend in backends:
        cluster = PostgresCluster(durable=True).start() if backend == "postgres" else None
        try:
            print(f"\n== {backend} ==")
            await run(settings, rows, cluster)
        finally:
            if cluster is not None:
                cluster.stop()


async def run(settings: Settings, rows: int, cluster: PostgresCluster | None) -> None:
    runs = [
        ("64 concurrent, group commit", rows, 64, 1000),
        ("64 concurrent, commit per row", rows // 5, 64, 1),
        ("1 at a time (a commit each)", rows // 10, 1, 1000),
    ]
    print(f"{'scenario':<32}{'rows':>8}{'rows/s':>10}{'slowest s':>11}{'median s':>10}"
          f"{'rows/commit':>13}{'ack p50':>10}")  # fmt: skip
    results = {}
    for name, n, concurrency, batch in runs:
        r = await scenario(settings, n, concurrency, batch, cluster)
        results[name] = r
        print(
            f"{name:<32}{n:>8,}{r['rate']:>10,.0f}{r['slowest_second']:>11,.0f}"
            f"{r['median_second']:>10,.0f}{r['rows_per_commit']:>13.1f}{r['ack_p50_ms']:>8.2f}ms"
        )
    batched = results["64 concurrent, group commit"]
    single = results["64 concurrent, commit per row"]
    print(
        f"\ngroup commit is {batched['rate'] / single['rate']:.1f}x faster than a commit per row"
        f" under concurrent load; sustained {batched['slowest_second']:,.0f} rows/s in its"
        f" slowest second (goal >= {GOAL:,})"
    )


if __name__ == "__main__":
    asyncio.run(main())
