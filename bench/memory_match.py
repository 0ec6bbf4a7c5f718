"""How well course memory tells paraphrases from near misses (eval/memory_pairs.jsonl).

Embeds every pair with the retrieval embedder (all-MiniLM-L6-v2), chooses the threshold on
the tune split, and prints precision and recall on the held-out test split, with and
without the key-term guard, and at the configured threshold.

Then the same at the configured threshold on questions no one on the team wrote
(eval/memory_pairs_faq.jsonl, see bench/_faq_questions.py): every two FAQ headings of
one project are a near miss, and each heading against its rule-made rewrites is a
paraphrase. Nothing is tuned on that set; it is only measured.

    python bench/memory_match.py [--pairs FILE] [--faq FILE] [--config config.toml] [--show]
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
from bot.memory.calibrate import (  # noqa: E402
    Pair,
    choose_threshold,
    load_pairs,
    load_questions,
    near_miss_pairs,
    rewritten_pairs,
    score,
)
from bot.memory.match import same_question, terms  # noqa: E402


async def similarities(texts_a: list[str], texts_b: list[str]) -> list[float]:
    from knowledge.embeddings import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    a = np.asarray(await embedder.embed(texts_a))
    b = np.asarray(await embedder.embed(texts_b))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    return [float(x) for x in (a * b).sum(axis=1)]


async def pair_similarities(pairs: list[Pair]) -> list[float]:
    """Cosine similarity of each pair, each distinct text embedded once."""
    from knowledge.embeddings import SentenceTransformerEmbedder

    texts = list(dict.fromkeys(t for p in pairs for t in (p.a, p.b)))
    vectors = np.asarray(await SentenceTransformerEmbedder().embed(texts))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = {t: i for i, t in enumerate(texts)}
    return [float(vectors[index[p.a]] @ vectors[index[p.b]]) for p in pairs]


def external(path: Path, threshold: float, show: bool) -> None:
    """Precision, recall and near misses answered on the FAQ questions."""
    questions = load_questions(path)
    misses, same = near_miss_pairs(questions), rewritten_pairs(questions)
    pairs = misses + same
    sims = asyncio.run(pair_similarities(pairs))
    sources = len({q.source.split()[0] for q in questions})
    print(
        f"\nexternal: {len(questions)} FAQ questions from {sources} projects;"
        f" {len(misses)} near-miss pairs, {len(same)} rule-made paraphrases"
    )
    for guard in (True, False):
        s = score(pairs, sims, threshold, guard=guard)
        answered = s.false_matches
        print(
            f"configured {threshold:.3f} guard={'on ' if guard else 'off'} external:"
            f" precision {s.precision:.3f} recall {s.recall:.3f}"
            f" ({s.matched} matched; near misses answered from memory: {answered})"
        )
    wrong = [
        (p, x)
        for p, x in zip(pairs, sims, strict=True)
        if not p.same and same_question(x, terms(p.a), terms(p.b), threshold)
    ]
    for p, x in wrong:
        print(f"  answered near miss {x:.3f}: {p.a!r} ~ {p.b!r}")
    close = sorted(
        ((x, p) for p, x in zip(pairs, sims, strict=True) if not p.same), key=lambda t: -t[0]
    )
    print("  closest near misses (cosine, rejected by the key-term check unless listed above):")
    for x, p in close[: 20 if show else 5]:
        print(f"    {x:.3f} {p.a!r} ~ {p.b!r}")
    if show:
        for p, x in zip(pairs, sims, strict=True):
            if p.same and not same_question(x, terms(p.a), terms(p.b), threshold):
                print(f"  missed paraphrase {x:.3f}: {p.a!r} ~ {p.b!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=ROOT / "eval" / "memory_pairs.jsonl")
    parser.add_argument("--faq", type=Path, default=ROOT / "eval" / "memory_pairs_faq.jsonl")
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
    external(args.faq, configured, args.show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
