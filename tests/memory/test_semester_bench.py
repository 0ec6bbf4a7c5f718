"""bench/semester.py runs end to end and prints the object its --json promises.

A tiny semester (two weeks, a few dozen questions): the figures themselves are the
benchmark's to print, not this test's to judge.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("knowledge.embeddings")


def test_a_tiny_semester_prints_the_json_contract(tmp_path):
    argv = [sys.executable, str(ROOT / "bench" / "semester.py"), "--json", "--weeks", "2"]
    argv += ["--per-week", "40", "--learners", "100", "--concurrency", "8", "--no-learn"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(result["weekly_local_share"]) == 2
    assert all(0 <= share <= 1 for share in result["weekly_local_share"])
    assert 0 <= result["saving_vs_all_cloud"] <= 1
    assert result["wrong_reuse"] == 0  # no memory answer given to another topic
    assert result["questions"] == 80 and result["failed"] == 0
    assert result["router_learning"] == []  # --no-learn: no weekly refit
    assert len(result["weekly_routed_local"]) == 2 and result["refits_kept"] == 0
