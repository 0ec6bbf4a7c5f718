"""The evaluation harness, `tutor route` and `tutor export-finetune`."""

import json

import pytest

from bot.cli.main import main
from bot.core.evaluate import (
    Routed,
    SuiteItem,
    estimate_cost,
    load_suite,
    run_models,
    score_models,
    score_routing,
    write_report,
)
from bot.core.finetune import export_finetune
from bot.ledger.store import Ledger
from bot.models.registry import ModelRegistry
from tests.fakes import FakeChatModel, Script
from tests.ledger_helpers import cloud, interaction


def routed(label, route, split="heldout", text="q"):
    return Routed(SuiteItem("x", text, label, split=split), route, (), 0.5)


def test_routing_scores_by_hand():
    rows = [
        routed("cloud", "cloud"),
        routed("cloud", "local"),
        routed("local", "cloud"),
        routed("local", "local"),
        routed("local", "local"),
    ]
    s = score_routing(rows)
    assert (s.n, s.accuracy, s.precision, s.recall, s.local_share) == (5, 0.6, 0.5, 0.5, 0.6)


def test_cost_per_thousand_against_all_cloud_by_hand(settings):
    system = len(settings.tutor.system_prompt)
    text = "x" * (400 - system)  # 400 chars: 100 prompt tokens
    rows = [routed("local", "local", text=text)] * 3 + [routed("cloud", "cloud", text=text)]
    cost = estimate_cost(settings, "free", rows, answer_tokens=200, gate_escalation=1 / 3)
    per_question = (100 * 0.15 + 200 * 0.60) / 1e6  # gpt-4o-mini
    assert cost.cloud_model == "cloud"
    assert cost.all_cloud_per_1000 == pytest.approx(1000 * per_question)
    # one routed to the cloud, plus a third of the three local ones escalated by the gate
    assert cost.routed_per_1000 == pytest.approx(1000 * per_question * 2 / 4)
    assert cost.cloud_share == pytest.approx(0.5) and cost.saving == pytest.approx(0.5)


async def test_models_are_run_scored_and_reported(settings, tmp_path):
    shaky = Script("Lists hold items in order.", logprobs=(-3.0,) * 5)
    fakes = {
        "local": FakeChatModel("local", shaky),
        "cloud": FakeChatModel("cloud", Script("A long and careful answer."), is_local=False),
        "tiny": FakeChatModel("tiny", Script("4")),  # the judge
    }
    registry = ModelRegistry(settings, models=fakes)
    items = [SuiteItem("a", "what is a list?", "local", reference="An ordered collection.")]
    results = await run_models(settings, registry, ["local", "cloud"], items, "free", judge="tiny")
    scores = {s.model: s for s in score_models(results, settings, "free")}
    assert scores["local"].gate_escalation == 1.0  # low logprobs: the gate would escalate
    assert scores["cloud"].gate_escalation is None and scores["cloud"].cost_per_1000 > 0
    assert scores["local"].quality == 0.75  # the judge said 4 of 5
    paths = write_report(
        tmp_path / "out",
        tier="free",
        routing={"heldout": score_routing([routed("local", "local")])},
        rows=[routed("local", "local")],
        models=list(scores.values()),
        results=results,
        cost=estimate_cost(settings, "free", [routed("local", "local")], answer_tokens=100),
    )
    report = paths[0].read_text()
    assert "| heldout | 1 | 1.000 |" in report and "| local | 1 | 0 |" in report
    assert paths[3].read_bytes().startswith(b"\x89PNG")
    assert "local,a,True" in paths[2].read_text()


def test_suite_errors_name_the_line(tmp_path):
    path = tmp_path / "suite.jsonl"
    path.write_text('{"text": "ok", "label": "local"}\n{"label": "cloud"}\n')
    with pytest.raises(ValueError, match=r"suite\.jsonl:2"):
        load_suite(path)


def test_shipped_suite_is_big_enough_and_labelled():
    from tests.test_config import REPO

    suite = load_suite(REPO / "eval" / "suite.jsonl")
    assert len(suite) >= 150 and {i.label for i in suite} == {"local", "cloud"}
    assert {i.split for i in suite} == {"tune", "heldout"}


def test_route_cli_json_and_jsonl_in_order(config_path, tmp_path, capsys):
    lines = tmp_path / "in.jsonl"
    lines.write_text(
        '{"text": "Explain in detail how sets work"}\n{"text": "hi"}\n\nnot json\n', "utf-8"
    )
    assert main(["--config", str(config_path), "route", "--json", "compare a and b"]) == 0
    assert json.loads(capsys.readouterr().out) == {"route": "cloud", "reasons": ["keyword:compare"]}
    assert main(["--config", str(config_path), "route", "--jsonl", str(lines)]) == 1
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out[0] == {"route": "cloud", "reasons": ["keyword:explain in detail"]}
    assert out[1] == {"route": "local", "reasons": ["rules:none"]}
    assert out[2]["route"] is None and out[2]["error"].startswith("line 3")


async def test_export_finetune_writes_escalations_redacted(settings, tmp_path):
    async with Ledger(settings, purge_every_s=None) as ledger:
        await ledger.record(cloud(1e9, text="compare my grades, mail ana@example.org"))
        await ledger.record(interaction(1e9 + 1, text="what is a list"))  # local: not exported
        count = await export_finetune(settings, ledger, tmp_path / "ft.jsonl")
    assert count == 1
    (row,) = [json.loads(line) for line in (tmp_path / "ft.jsonl").read_text().splitlines()]
    roles = [m["role"] for m in row["messages"]]
    assert roles == ["system", "user", "assistant"]
    assert row["messages"][1]["content"] == "compare my grades, mail [email]"
    assert row["messages"][2]["content"] == "An answer."


def test_eval_cli_writes_the_report(config_path, tmp_path, capsys):
    suite = tmp_path / "suite.jsonl"
    suite.write_text(
        '{"id": "1", "text": "compare lists and tuples", "label": "cloud", "split": "heldout"}\n'
        '{"id": "2", "text": "what is a list", "label": "local", "split": "heldout"}\n'
        '{"id": "3", "text": "hello", "label": "local", "split": "tune"}\n',
        "utf-8",
    )
    out = tmp_path / "report"
    args = ["--config", str(config_path), "eval", "--suite", str(suite), "--out", str(out)]
    assert main(args) == 0
    report = (out / "report.md").read_text()
    assert "| heldout | 2 | 1.000 | 1.000 | 1.000 | 50.0% |" in report
    assert {p.name for p in out.iterdir()} == {
        "report.md",
        "routing.csv",
        "models.csv",
        "chart.png",
    }
    assert main([*args, "--models", "gpt-9"]) == 2
    assert "unknown models" in capsys.readouterr().err
