"""``tutor eval`` runs Ollama, OpenAI and Claude side by side on the same questions."""

import asyncio

from bot.cli.main import main
from tests.conftest import write_config
from tests.loopback.anthropic_server import AnthropicServer
from tests.loopback.ollama_server import OllamaServer
from tests.loopback.openai_server import OpenAIServer
from tests.models.test_anthropic_tutor import CONFIG, KEY

JUDGE = """
[models.judge]
provider = "openai"
model = "gpt-4o-mini"
base_url = "{judge}"
max_retries = 0
"""
SUITE = (
    '{"id": "1", "text": "what is a list", "label": "local", "reference": "An ordered, '
    'mutable collection."}\n'
    '{"id": "2", "text": "compare lists and tuples", "label": "cloud", "reference": '
    '"Lists change, tuples do not."}\n'
)


async def test_eval_compares_the_three_providers(tmp_path, monkeypatch, capsys):
    async with (
        OllamaServer() as local,
        AnthropicServer(api_key=KEY) as claude,
        OpenAIServer() as gpt,
        OpenAIServer() as judge,
    ):
        judge.behaviour.text = "4"
        text = CONFIG.format(ollama=local.url, anthropic=claude.base_url, openai=gpt.base_url)
        config = write_config(tmp_path, text + JUDGE.format(judge=judge.base_url))
        suite = tmp_path / "suite.jsonl"
        suite.write_text(SUITE, encoding="utf-8")
        for name, value in {
            "TUTOR_DATA_DIR": str(tmp_path / "data"),
            "OPENAI_API_KEY": "sk-test",
            "ANTHROPIC_API_KEY": KEY,
        }.items():
            monkeypatch.setenv(name, value)
        args = ["--config", str(config), "eval", "--suite", str(suite), "--tier", "enterprise"]
        args += ["--models", "local,gpt,claude", "--judge", "judge", "--out", str(tmp_path / "r")]
        status = await asyncio.to_thread(main, args)
    assert status == 0
    report = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    rows = {
        line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
        for line in report.splitlines()
        if line.startswith("| local |") or line.startswith("| gpt |")
        or line.startswith("| claude |")
    }  # fmt: skip
    assert set(rows) == {"local", "gpt", "claude"}
    for model, (answered, failed, *_rest, cost, _gate, quality) in rows.items():
        assert (answered, failed, quality) == ("2", "0", "75%"), model
        assert cost == "$0.0000" if model == "local" else cost.startswith("$") and cost != "$0.0000"
    # The same questions went to every provider.
    asked = [r["messages"][-1]["content"] for r in gpt.requests]
    assert [r["messages"][-1]["content"][-1]["text"] for r in claude.requests] == asked
    assert [r["messages"][-1]["content"] for r in local.requests] == asked
    csv = (tmp_path / "r" / "models.csv").read_text(encoding="utf-8")
    assert csv.splitlines()[0].endswith("cache_read_tokens,cache_write_tokens")
