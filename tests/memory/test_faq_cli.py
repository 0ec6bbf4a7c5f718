"""``tutor faq add|list|forget`` and ``tutor ask --json`` answering from a pinned entry,
through the real CLI with the real embedder; ``/tutor faq`` through the real BotApp."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.app import BotApp
from bot.cli.main import main
from bot.config import load_config
from bot.events import CommandRequest, IncomingMessage
from tests.conftest import write_config
from tests.fakes import FakeChatModel, KeywordEmbedder, Script
from tests.loopback.ollama_server import OllamaServer

pytest.importorskip("knowledge.embeddings")

CONFIG = """
[tutor]
data_dir = "data"

[models.local]
provider = "ollama"
model = "llama3.2:3b"
host = "{ollama}"
first_token_timeout_s = 60
timeout_s = 120

[tiers.free]
chain = ["local"]

[routing]
default_tier = "free"
"""


async def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_faq_add_list_ask_and_forget(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TUTOR_DATA_DIR", raising=False)
    async with OllamaServer() as ollama:
        config = str(write_config(tmp_path, CONFIG.format(ollama=ollama.url)))
        answer = "Open Settings, then Progress, then Reset."
        code, out, _ = await run(
            capsys, "--config", config, "faq", "add", "--question",
            "How do I reset my progress?", "--answer", answer, "--source", "faq.md",
        )  # fmt: skip
        assert code == 0 and out.startswith("added #1")

        code, out, _ = await run(capsys, "--config", config, "faq", "list", "--json")
        (entry,) = [json.loads(line) for line in out.splitlines()]
        assert (entry["id"], entry["origin"], entry["answer"]) == (1, "pinned", answer)
        assert entry["sources"] == ["faq.md"]

        code, out, _ = await run(
            capsys, "--config", config, "ask", "--json", "how can I reset my progress?"
        )
        reply = json.loads(out)
        assert (reply["route"], reply["model"], reply["answer"]) == ("memory", "memory", answer)
        assert reply["usage"]["cost_usd"] == 0.0
        assert [c["source"] for c in reply["citations"]] == ["faq.md"]
        assert not ollama.requests  # no model was asked

        code, out, _ = await run(
            capsys, "--config", config, "ask", "--json", "How do I reset my password?"
        )
        assert json.loads(out)["route"] == "local"  # a near miss goes to the model

        assert (await run(capsys, "--config", config, "faq", "forget", "1"))[0] == 0
        assert (await run(capsys, "--config", config, "faq", "forget", "1"))[0] == 1
        code, out, _ = await run(capsys, "--config", config, "faq", "list")
        assert out.strip() == "course memory is empty"


async def test_faq_add_refuses_an_empty_answer(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TUTOR_DATA_DIR", raising=False)
    config = str(write_config(tmp_path, CONFIG.format(ollama="http://127.0.0.1:9")))
    code, _, err = await run(
        capsys, "--config", config, "faq", "add", "--question", "What?", "--answer", " "
    )
    assert code == 2 and "must have text" in err


@pytest.fixture
async def app(tmp_path):
    from tests.conftest import TEST_CONFIG

    settings = load_config(write_config(tmp_path, TEST_CONFIG), {})
    models = {
        "local": FakeChatModel("local", Script("A local answer.")),
        "cloud": FakeChatModel("cloud", Script("The cloud's answer."), is_local=False),
    }
    async with BotApp(settings, models=models, embedder=KeywordEmbedder()) as app:
        yield app


def command(name: str, moderator: bool = True, **args: str) -> CommandRequest:
    return CommandRequest(name, "mod", "c1", "discord", "g1", args=args, is_moderator=moderator)


async def test_moderators_list_pin_and_forget_memory_by_slash_command(app):
    question = "What is the difference between a list and a tuple?"
    msg = IncomingMessage(question, "u1", "c1", "discord", "g1", tier="enterprise")
    assert (await app.tutor.handle(msg)).route == "cloud"
    listed = await app.commands(command("faq.list"))
    assert "#1 (cloud, used 0×)" in listed.text and question in listed.text

    refused = await app.commands(command("faq.forget", moderator=False, id="1"))
    assert not refused.ok and "only moderators" in refused.text
    assert not (await app.commands(command("faq.pin", id="x"))).ok
    assert not (await app.commands(command("faq.pin", id="99"))).ok
    assert (await app.commands(command("faq.pin", id="#1"))).ok
    assert "#1 (pinned" in (await app.commands(command("faq.list"))).text
    other = CommandRequest("faq.list", "mod", "c1", "discord", "g2", is_moderator=True)
    assert "empty" in (await app.commands(other)).text  # another workspace's memory

    again = IncomingMessage(question, "u2", "c1", "discord", "g1", tier="enterprise")
    assert (await app.tutor.handle(again)).route == "memory"
    assert (await app.commands(command("faq.forget", id="1"))).ok
    last = IncomingMessage(question, "u3", "c1", "discord", "g1", tier="enterprise")
    assert (await app.tutor.handle(last)).route == "cloud"
