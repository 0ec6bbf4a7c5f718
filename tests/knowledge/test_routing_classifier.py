"""The routing classifier with the real retrieval embedder, on the shipped held-out split.

It learns from eval/router_examples.jsonl only; eval/suite.jsonl's held-out messages
were never used to fit or tune it. Embeddings are deterministic, so this is a fixed
check of the shipped data and model, not a flaky one.
"""

from pathlib import Path

from bot.config import load_config
from bot.core.evaluate import load_suite, route_suite, score_routing
from bot.core.router import ExampleClassifier, Router

ROOT = Path(__file__).resolve().parents[2]


async def test_router_meets_its_goals_on_the_held_out_split(st_embedder):
    settings = load_config(ROOT / "config.toml", {})
    classifier = ExampleClassifier.from_jsonl(
        st_embedder, ROOT / settings.routing.examples, regularisation=settings.router.classifier_c
    )
    held_out = [i for i in load_suite(ROOT / "eval" / "suite.jsonl") if i.split == "heldout"]
    score = score_routing(await route_suite(Router(classifier), settings, "free", held_out))
    assert score.accuracy >= 0.9 and score.recall >= 0.9
    assert score.local_share >= 0.7
