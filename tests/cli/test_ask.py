"""``tutor ask`` through the real CLI: ``--json``, ``--jsonl FILE``, ``--mode``, and a
chat-clean stderr (logs go to the data folder's log file).

The chat model is the real ``ollama`` client talking to the loopback Ollama server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3

import pytest

from bot.app import BotApp
from bot.cli import main as cli
from bot.cli.main import main
from bot.service.logs import log_file
from tests.conftest import write_config
from tests.loopback.ollama_server import OllamaServer
from tests.service_helpers import free_port

# Timeouts that only catch hangs: these tests check the plumbing, not speed.
CONFIG = """
[tutor]
data_dir = "data"
system_prompt = "You are a test tutor."

[models.broken]
provider = "ollama"
model = "llama3.2:3b"
host = "http://127.0.0.1:{down_port}"
first_token_timeout_s = 60
timeout_s = 120

[models.local]
provider = "ollama"
model = "llama3.2:3b"
host = "{ollama}"
first_token_timeout_s = 60
timeout_s = 120

[tiers.free]
chain = {chain}

[tiers.other]
chain = ["local"]

[routing]
default_tier = "free"
"""
CONTRACT = {
    "answer",
    "route",
    "model",
    "reasons",
    "confidence",
    "citations",
    "usage",
    "latency_ms",
    "mode",
}


@pytest.fixture
async def ollama():
    async with OllamaServer() as server:
        yield server


@pytest.fixture
def config(tmp_path, ollama, monkeypatch):
    monkeypatch.delenv("TUTOR_DATA_DIR", raising=False)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)

    def write(chain=("local",)):
        text = CONFIG.format(down_port=free_port(), ollama=ollama.url, chain=json.dumps(chain))
        return str(write_config(tmp_path, text))

    return write


@pytest.fixture
def opened(monkeypatch):
    """How many times the CLI opened a BotApp (loaded the models and the index)."""
    count = []

    class Counting(BotApp):
        async def __aenter__(self):
            count.append(1)
            return await super().__aenter__()

    monkeypatch.setattr(cli, "BotApp", Counting)
    return count


async def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def asked(ollama: OllamaServer) -> list[str]:
    """The learner's words of each chat request, in the order they reached Ollama."""
    return [r["messages"][-1]["content"] for r in ollama.requests if r.get("messages")]


async def test_ask_json_prints_the_contract_object_with_the_mode(config, capsys):
    code, out, err = await run(capsys, "--config", config(), "ask", "--json", "What is a list?")
    obj = json.loads(out)
    assert code == 0 and set(obj) == CONTRACT and obj["mode"] == "guide"
    assert err == ""  # nothing failed: nothing to say
    assert obj["route"] == "local" and obj["answer"] == "A list is an ordered collection."
    code, out, _ = await run(
        capsys, "--config", config(), "ask", "--json", "--mode", "answer", "What is a list?"
    )
    assert code == 0 and json.loads(out)["mode"] == "answer"


async def test_ask_jsonl_answers_every_line_in_order_in_one_process(
    config, ollama, opened, capsys, tmp_path
):
    questions = tmp_path / "questions.jsonl"
    questions.write_bytes(
        b'{"text": "What is a list?"}\n'
        b"\n"  # skipped
        b"not json\n"
        b'{"text": 3}\n'
        b'{"text": "What is a tuple?", "id": 7}\n'
        b"\xff\xfe\n"
        b'{"text": "What is a dict?"}'  # no newline at the end
    )
    path = config()
    code, out, _ = await run(
        capsys, "--config", path, "ask", "--jsonl", str(questions), "--mode", "answer",
        "--user", "eval", "--tier", "other",
    )  # fmt: skip
    rows = [json.loads(line) for line in out.splitlines()]

    assert code == 1  # some lines were not questions
    assert [row.get("line") for row in rows] == [None, 3, 4, None, 6, None]
    assert "not JSON" in rows[1]["error"] and '"text" string' in rows[2]["error"]
    assert "not UTF-8" in rows[4]["error"]
    answers = [rows[0], rows[3], rows[5]]
    assert all(set(a) == CONTRACT and a["mode"] == "answer" for a in answers)
    assert all(a["route"] == "local" and a["answer"] for a in answers)
    assert asked(ollama) == ["What is a list?", "What is a tuple?", "What is a dict?"]
    assert len(opened) == 1  # the models and the index were loaded once for every line
    ledger = tmp_path / "data" / "ledger.sqlite3"
    with sqlite3.connect(ledger) as db:
        recorded = db.execute("SELECT user, tier, text FROM interactions ORDER BY id").fetchall()
    assert recorded == [
        ("eval", "other", "What is a list?"),
        ("eval", "other", "What is a tuple?"),
        ("eval", "other", "What is a dict?"),
    ]


async def test_ask_jsonl_questions_do_not_share_a_conversation(config, ollama, capsys, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"text": "first"}\n{"text": "second"}\n', encoding="utf-8")
    code, out, _ = await run(capsys, "--config", config(), "ask", "--jsonl", str(questions))
    assert code == 0 and len(out.splitlines()) == 2
    second = [r for r in ollama.requests if r.get("messages")][1]["messages"]
    assert "first" not in json.dumps(second)  # no history carried from the line before


async def test_ask_jsonl_reads_stdin_and_checks_its_arguments(config, capsys, monkeypatch):
    path = config()
    code, _, err = await run(capsys, "--config", path, "ask")
    assert code == 2 and "give TEXT or --jsonl FILE" in err
    code, _, err = await run(capsys, "--config", path, "ask", "hi", "--jsonl", "q.jsonl")
    assert code == 2 and "give TEXT or --jsonl FILE" in err
    code, out, err = await run(capsys, "--config", path, "ask", "--jsonl", "/no/such/file")
    assert (code, out) == (2, "") and "cannot read /no/such/file" in err


async def test_ask_keeps_logs_out_of_its_output_and_in_the_log_file(config, capsys, tmp_path):
    path = config(chain=["broken", "local"])
    code, out, err = await run(capsys, "--config", path, "ask", "--json", "What is a list?")
    obj = json.loads(out)  # stdout is the one object, nothing else
    assert code == 0 and obj["model"] == "local" and obj["route"] == "local"
    # stderr: one status line naming what failed and where the details are, no log lines
    [status] = err.splitlines()
    log = log_file(tmp_path / "data")
    assert status.startswith("tutor: unavailable: broken: ") and str(log) in status
    assert "WARNING" in log.read_text(encoding="utf-8")
    assert "model broken failed" in log.read_text(encoding="utf-8")


async def test_verbose_ask_also_logs_to_stderr(config, capsys):
    path = config(chain=["broken", "local"])
    code, out, err = await run(capsys, "--config", path, "-v", "ask", "--json", "What is a list?")
    assert code == 0 and json.loads(out)["model"] == "local"
    assert "WARNING" in err and "model broken failed" in err


async def test_main_leaves_the_callers_logging_as_it_found_it(config, capsys):
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    await run(capsys, "--config", config(), "-v", "ask", "--json", "What is a list?")
    assert (root.handlers, root.level) == before


# --- a ledger that cannot be used (finding 9) ----------------------------------------------


async def test_a_corrupted_ledger_keeps_answering_and_stats_says_what_is_wrong(
    config, capsys, tmp_path
):
    path = config()
    data = tmp_path / "data"
    data.mkdir()
    (data / "ledger.sqlite3").write_bytes(b"this is not a database, just junk " * 200)
    code, out, err = await run(capsys, "--config", path, "ask", "--json", "What is a list?")
    assert code == 0 and json.loads(out)["answer"] == "A list is an ordered collection."
    assert "Traceback" not in err
    queued = (data / "ledger.sqlite3.overflow.jsonl").read_text().splitlines()
    assert len(queued) == 1 and json.loads(queued[0])["text"] == "What is a list?"
    code, out, err = await run(capsys, "--config", path, "stats")
    assert code == 1 and "Traceback" not in err
    assert "ledger" in err and "tutor doctor" in err and "sqlite3.overflow.jsonl" not in out
    # The recovery path: set the broken file aside; the queued row goes into the new ledger.
    (data / "ledger.sqlite3").rename(data / "ledger.sqlite3.broken")
    code, out, err = await run(capsys, "--config", path, "stats", "--json")
    assert code == 0 and json.loads(out)["questions"] == 1
    assert not (data / "ledger.sqlite3.overflow.jsonl").exists()
