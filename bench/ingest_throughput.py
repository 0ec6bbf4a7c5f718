"""Ingest throughput (chunks/s) and the time of a no-change re-ingest.

Ingests several copies of the sample course (each copy its own folder, so every chunk is
embedded) with the real all-MiniLM-L6-v2 embedder, then ingests again with nothing
changed, in-process and as the ``tutor ingest`` command a user runs (process start and
imports included).

    python bench/ingest_throughput.py [--copies N] [--threads N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import load_config  # noqa: E402
from knowledge.service import CourseKnowledge  # noqa: E402


def cli_ingest(folder: Path, data: str) -> float:
    started = time.perf_counter()
    command = [sys.executable, "-m", "bot.cli.main", "--config", str(ROOT / "config.toml")]
    subprocess.run(
        [*command, "ingest", str(folder)],
        cwd=ROOT,
        env=os.environ | {"TUTOR_DATA_DIR": data},
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="copies of the course (4)")
    parser.add_argument(
        "--threads", type=int, default=None, help="knowledge.embedding_threads (config's)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        for n in range(args.copies):
            shutil.copytree(ROOT / "course", corpus / f"copy-{n}")
        settings = load_config(ROOT / "config.toml", {"TUTOR_DATA_DIR": f"{tmp}/data"})
        if args.threads is not None:
            knowledge_config = settings.knowledge.model_copy(
                update={"embedding_threads": args.threads}
            )
            settings = settings.model_copy(update={"knowledge": knowledge_config})
        knowledge = CourseKnowledge(settings)
        started = time.perf_counter()
        await knowledge.embedder.warm()  # type: ignore[attr-defined]
        print(f"Embedder {knowledge.embedder.name} loaded in {time.perf_counter() - started:.1f} s")

        first = await knowledge.ingest([corpus])
        print(
            f"First ingest: {first.files} files, {first.chunks} chunks in {first.seconds:.1f} s: "
            f"{first.chunks / first.seconds:.1f} chunks/s end to end, "
            f"{first.chunks / first.embed_seconds:.1f} chunks/s embedding and writing"
        )
        again = await knowledge.ingest([corpus])
        assert again.chunks == 0 and again.unchanged == first.files
        print(
            f"No-change re-ingest, in process: {again.seconds * 1000:.0f} ms ({again.files} files)"
        )
        await knowledge.aclose()

        sample = ROOT / "course"
        data = f"{tmp}/cli-data"
        cli_ingest(sample, data)  # builds the index
        runs = sorted(cli_ingest(sample, data) for _ in range(3))
        print(
            f"No-change re-ingest of the sample course, `tutor ingest course/` as a command: "
            f"median {runs[1]:.2f} s of 3 (process start and imports included)"
        )


if __name__ == "__main__":
    asyncio.run(main())
