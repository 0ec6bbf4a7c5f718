"""How well course memory tells paraphrases from near misses (eval/memory_pairs.jsonl).

Embeds every pair with the retrieval embedder (all-MiniLM-L6-v2), chooses the threshold on
the tune split, and prints precision and recall on the held-out test split, with and
without the key-term guard, and at the configured threshold.

    python bench/memory_match.py [--pairs FILE] [--config config.toml]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import load_config  # noqa: E402
from bot.memory.calibrate import choose_threshold, load_pairs, score  # noqa: E402


async def similarities(texts_a: list[str], texts_b: list[str]) -> list[float]:
    from knowledge.embeddings import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    a = np.asarray(await embedder.embed(texts_a))
    b = np.asarray(await embedder.embed(texts_b))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    return [float(x) for x in (a * b).sum(axis=1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=ROOT / "eval" / "memory_pairs.jsonl")
    parser.add_argument("--config", type=Path, default=ROOT / "config.toml")
    parser.add_argument("--show", action="store_true", help="print every test pair's verdict")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    pairs = load_pairs(args.pairs)
    sims = asyncio.run(similarities([p.a for p in pairs], [p.b for p in pairs]))
    tune = [(p, s) for p, s in zip(pairs, sims, strict=True) if p.split == "tune"]
    test = [(p, s) for p, s in zip(pairs, sims, strict=True) if p.split == "test"]
    chosen = choose_threshold([p for p, _ in tune], [s for _, s in tune])
    configured = load_config(args.config, {}).memory.threshold
    print(f"pairs: {len(tune)} tune, {len(test)} test; chosen threshold {chosen}")
    for name, threshold in (("chosen", chosen), ("configured", configured)):
        for guard in (True, False):
            for split, rows in (("tune", tune), ("test", test)):
                s = score([p for p, _ in rows], [x for _, x in rows], threshold, guard=guard)
                print(
                    f"{name:>10} {threshold:.3f} guard={'on ' if guard else 'off'} {split:>4}:"
                    f" precision {s.precision:.3f} recall {s.recall:.3f}"
                    f" ({s.matched} matched, {s.false_matches} wrong)"
                )
    if args.show:
        for p, s in tune + test:
            verdict = score([p], [s], configured).matched
            print(f"{s:.3f} same={p.same!s:5} match={bool(verdict)!s:5} {p.a!r} ~ {p.b!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
