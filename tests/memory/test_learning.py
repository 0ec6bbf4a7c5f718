"""The router learns from the ledger's outcomes, and keeps the previous model when the
new one routes the held-back suite worse. Fakes at the embedder port (bag of words)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import BotApp
from bot.config import load_config
from bot.core.evaluate import load_suite
from bot.digests.service import Digests
from bot.digests.text import render_text
from bot.digests.windows import complete_window
from bot.ledger.queries import Outcome
from bot.memory.learning import (
    LEARNED_SHARE,
    balanced,
    held_back,
    label_of,
    learned_path,
    split_fresh,
)
from tests.conftest import TEST_CONFIG, write_config
from tests.fakes import FakeChatModel, KeywordEmbedder
from tests.ledger_helpers import LOW_CONFIDENCE, cloud, interaction

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "eval" / "suite.jsonl"
EXAMPLES = ROOT / "eval" / "router_examples.jsonl"


def outcome(text="What is a list?", route="local", model="local", codes=(), result="answered"):
    return Outcome(text, route, model, result, json.dumps(list(codes)))


def test_what_each_outcome_teaches():
    assert label_of(outcome()) == "local"
    assert label_of(outcome(), votes_down=1) == "cloud"
    assert label_of(outcome(codes=["low-confidence"])) is None  # a weak answer kept
    assert label_of(outcome(result="fell_back")) is None
    assert label_of(outcome(model="course")) is None  # no model answered
    assert label_of(outcome(route="memory", model="memory")) is None
    escalated = outcome(route="cloud", model="cloud", codes=["tier", "low-confidence"])
    assert label_of(escalated) == "cloud"
    assert label_of(outcome(route="cloud", model="cloud", codes=["keyword"])) is None


def test_examples_are_redacted_deduplicated_balanced_and_bounded(settings):
    rows = [
        outcome("What is a list? mail me at ana@example.com"),
        outcome("What is a  list?"),
        outcome("What is a list?"),
        outcome("What is a dict?"),
        outcome("Why?\n```\nx = 1\nprint(x)\n```"),  # pasted code: the rules' to route
        outcome("Explain metaclasses in depth", "cloud", "cloud", ["low-confidence"]),
        outcome("Design a plugin system", "cloud", "cloud", ["low-confidence"]),
    ]
    examples = balanced(rows, settings, limit=10)
    assert examples == [
        ("What is a list? mail me at [email]", "local"),
        ("What is a list?", "local"),
        ("Explain metaclasses in depth", "cloud"),
        ("Design a plugin system", "cloud"),
    ]
    assert len(balanced(rows, settings, limit=1)) == 2


def test_an_outcome_seen_both_ways_teaches_nothing(settings):
    rows = [
        outcome("What is a set?"),
        outcome("What is a set?", "cloud", "cloud", ["low-confidence"]),
        outcome("What is a dict?"),
        outcome("Design a plugin system", "cloud", "cloud", ["low-confidence"]),
    ]
    assert balanced(rows, settings, limit=10) == [
        ("What is a dict?", "local"),
        ("Design a plugin system", "cloud"),
    ]


def test_learned_examples_are_capped_and_partly_held_back():
    shipped = [(f"shipped {i}", "local" if i % 2 else "cloud") for i in range(40)]
    fresh = [(f"question {i}", "local") for i in range(100)]
    fresh += [(f"hard question {i}", "cloud") for i in range(100)]
    fit, judged = split_fresh(fresh, shipped)
    cap = int(LEARNED_SHARE * 20)
    assert sum(label == "local" for _, label in fit) == sum(label == "cloud" for _, label in fit)
    assert len(fit) == 2 * cap  # never more than a share of the shipped examples
    assert judged and all(held_back(t) for t, _ in judged)
    assert not any(held_back(t) for t, _ in fit)  # what judges the refit was never fitted
    assert {t for t, _ in fit}.isdisjoint(t for t, _ in judged)


def config(tmp_path) -> Path:
    text = TEST_CONFIG.replace(
        'default_tier = "free"', f'default_tier = "free"\nexamples = "{EXAMPLES}"'
    )
    return write_config(tmp_path, text + f'\n[memory]\nlearn_suite = "{SUITE}"\n')


def app(tmp_path) -> BotApp:
    settings = load_config(config(tmp_path), {})
    models = {"cloud": FakeChatModel("cloud", is_local=False)}
    return BotApp(settings, models=models, embedder=KeywordEmbedder())


async def record(ledger, rows) -> None:
    for row in rows:
        await ledger.record(row)
    await ledger.flush()


async def test_learning_from_sound_outcomes_is_kept_and_used(tmp_path):
    now = time.time()
    async with app(tmp_path) as bot:
        tune = [item for item in load_suite(SUITE) if item.split == "tune"]
        rows = [
            interaction(now - i, text=item.text)
            if item.label == "local"
            else cloud(now - i, text=item.text, reasons=(LOW_CONFIDENCE,))
            for i, item in enumerate(tune)
        ]
        await record(bot.ledger, rows)
        before = bot.router.classifier
        learned = await bot.learn()
        run = learned.run
        assert run.learned_local == run.learned_cloud > 0
        assert run.kept and run.accuracy_after >= run.accuracy_before
        assert learned.judged > 0  # outcomes held back from the fit judged it too
        assert learned_path(bot.settings).is_file()
        assert bot.router.classifier is not before  # in use at once
        assert bot.router.classifier.texts == before.texts  # the shipped ones, as fitted
        assert len(bot.router.classifier.learned_texts) == 2 * run.learned_local
        digests = Digests(bot.settings, bot.ledger)
        window = complete_window("week", _next_week(), ZoneInfo("UTC"))
        text = render_text(await digests.build(window))
        assert f"The router learned from {run.learned_local} local answers" in text


async def test_a_worse_model_is_not_kept(tmp_path):
    now = time.time()
    async with app(tmp_path) as bot:
        heldout = [item for item in load_suite(SUITE) if item.split == "heldout"]
        # Every held-back question recorded with the opposite verdict: learning it is worse.
        rows = [
            cloud(now - i, text=item.text, reasons=(LOW_CONFIDENCE,))
            if item.label == "local"
            else interaction(now - i, text=item.text)
            for i, item in enumerate(heldout)
        ]
        await record(bot.ledger, rows)
        before = bot.router.classifier
        learned = await bot.learn()
        assert not learned.run.kept
        assert learned.run.accuracy_after < learned.run.accuracy_before
        assert not learned_path(bot.settings).exists()
        assert bot.router.classifier is before


async def test_nothing_to_learn_keeps_the_model(tmp_path):
    async with app(tmp_path) as bot:
        learned = await bot.learn()
    assert (learned.run.learned_local, learned.run.kept) == (0, False)
    assert learned.run.accuracy_after == learned.run.accuracy_before


def _next_week() -> datetime:
    return datetime.now(UTC) + timedelta(days=7)  # its last whole week holds now


@pytest.fixture(autouse=True)
def _no_data_dir_override(monkeypatch):
    monkeypatch.delenv("TUTOR_DATA_DIR", raising=False)


async def test_the_learning_job_runs_while_serving_and_stops_with_the_app(tmp_path):
    async with app(tmp_path) as bot:
        task = bot.start_learning()
        assert task is not None and not task.done()
    assert task.cancelled()


async def test_tutor_learn_without_a_classifier_says_why(tmp_path, capsys):
    from bot.cli.main import main

    path = write_config(tmp_path, TEST_CONFIG)  # no routing examples next to it
    code = await asyncio.to_thread(main, ["--config", str(path), "learn"])
    assert code == 2
    assert "no classifier to refit" in capsys.readouterr().err
