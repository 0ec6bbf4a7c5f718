"""The match threshold on the held-out pairs, with the real retrieval embedder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.config import load_config
from bot.memory.calibrate import choose_threshold, load_pairs, score

ROOT = Path(__file__).resolve().parents[2]
PAIRS = ROOT / "eval" / "memory_pairs.jsonl"


@pytest.fixture(scope="module")
def similarities():
    embeddings = pytest.importorskip("knowledge.embeddings")
    embedder = embeddings.SentenceTransformerEmbedder()
    pairs = load_pairs(PAIRS)
    a = np.asarray(embedder.embed_sync([p.a for p in pairs]))
    b = np.asarray(embedder.embed_sync([p.b for p in pairs]))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    return pairs, [float(x) for x in (a * b).sum(axis=1)]


def test_the_pairs_are_split_and_hold_near_misses():
    pairs = load_pairs(PAIRS)
    for split in ("tune", "test"):
        part = [p for p in pairs if p.split == split]
        assert sum(p.same for p in part) >= 15 and sum(not p.same for p in part) >= 15


def test_the_configured_threshold_is_precise_on_the_held_out_pairs(similarities):
    pairs, sims = similarities
    test = [(p, s) for p, s in zip(pairs, sims, strict=True) if p.split == "test"]
    threshold = load_config(ROOT / "config.toml", {}).memory.threshold
    found = score([p for p, _ in test], [s for _, s in test], threshold)
    assert found.precision >= 0.98
    assert found.recall > 0  # it does reuse something


def test_the_guard_is_what_makes_it_precise(similarities):
    pairs, sims = similarities
    tune = [(p, s) for p, s in zip(pairs, sims, strict=True) if p.split == "tune"]
    threshold = choose_threshold([p for p, _ in tune], [s for _, s in tune])
    assert threshold < 1.0
    unguarded = score([p for p, _ in tune], [s for _, s in tune], threshold, guard=False)
    assert unguarded.false_matches > 0  # cosine alone would answer near misses
