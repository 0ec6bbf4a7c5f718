"""A process killed hard while recording loses no row it acknowledged."""

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHILD = ROOT / "tests" / "ledger_child.py"


async def record_then_sigkill(config_path: Path, data: Path, **env: str) -> list[str]:
    """Run the child until it acknowledged 3,000 rows, SIGKILL it; the ids it acknowledged."""
    env = os.environ | {"PYTHONPATH": str(ROOT)} | env
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        str(config_path),
        str(data),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    acked: list[str] = []
    try:
        async with asyncio.timeout(120):
            while len(acked) < 3000:  # well into the run, with 16 writers going
                line = await proc.stdout.readline()
                assert line, (await proc.stderr.read()).decode()
                acked.append(line.decode().strip())
    finally:
        proc.send_signal(signal.SIGKILL)
    rest = await proc.stdout.read()
    await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # Every complete line was printed after its row was acknowledged.
    acked += rest.decode().split("\n")[:-1]
    return acked


async def test_sigkill_mid_write_loses_no_acknowledged_row(config_path, tmp_path):
    data = tmp_path / "crash-data"
    acked = await record_then_sigkill(config_path, data)
    with sqlite3.connect(data / "ledger.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {cid for (cid,) in db.execute("SELECT correlation_id FROM interactions")}
        (rows,) = db.execute("SELECT count(*) FROM interactions").fetchone()
        (rolled_up,) = db.execute("SELECT sum(questions) FROM usage_q").fetchone()
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged rows lost, e.g. {sorted(missing)[:5]}"
    assert rows == len(stored) >= len(acked)
    assert rolled_up == rows  # the rollups committed in the same transactions as the rows
