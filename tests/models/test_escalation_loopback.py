"""Escalation and failover with the real ollama and openai clients on loopback servers."""

import pytest

from bot.config import load_config
from bot.core.tutor import CLOUD_DOWN_NOTICE, Tutor
from bot.events import IncomingMessage
from bot.models.registry import ModelRegistry
from tests.conftest import impatient, write_config
from tests.fakes import ListLedger, RecordingSink
from tests.loopback.ollama_server import OllamaServer
from tests.loopback.openai_server import OpenAIServer

# Timeouts catch hangs only (CI is a loaded 2-core machine); the tests of a timeout make
# that one model impatient, against a server slower than that.
CONFIG = """
[models.local]
provider = "ollama"
model = "llama3.2:3b"
host = "{ollama}"
first_token_timeout_s = 30
timeout_s = 60

[models.cloud]
provider = "openai"
model = "gpt-4o-mini"
base_url = "{openai}"
max_retries = 0
first_token_timeout_s = 30
timeout_s = 60

[tiers.free]
chain = ["local", "cloud"]

[routing]
breaker_cooldown_s = 0

[prices.models]
"gpt-4o-mini" = {{ input = 0.15, output = 0.60 }}
"""
LOCAL = "A list keeps items in order and you can change it later."
CLOUD = "Lists are mutable sequences; tuples are immutable ones."


@pytest.fixture
async def parts(tmp_path):
    async with OllamaServer() as local, OpenAIServer() as cloud:
        local.behaviour.text, cloud.behaviour.text = LOCAL, CLOUD
        path = write_config(tmp_path, CONFIG.format(ollama=local.url, openai=cloud.base_url))
        settings = load_config(path, {"OPENAI_API_KEY": "sk-test"})
        registry = ModelRegistry(settings)
        ledger = ListLedger()
        yield Tutor(settings, registry, ledger=ledger), local, cloud, ledger
        await registry.aclose()


def ask(text="What is a list?"):
    return IncomingMessage(text=text, user="u", channel="c")


async def test_confident_ollama_answers_stay_local(parts):
    tutor, _, cloud, _ = parts
    reply = await tutor.handle(ask(), RecordingSink())
    assert reply.route == "local" and reply.text == LOCAL and reply.confidence == 1.0
    assert cloud.requests == []


async def test_an_unsure_ollama_answer_escalates_over_the_wire(parts, monkeypatch):
    tutor, local, cloud, _ = parts
    monkeypatch.setattr(type(local), "_logprob", staticmethod(_unsure))
    sink = RecordingSink()
    reply = await tutor.handle(ask(), sink)
    assert reply.route == "cloud" and reply.text == CLOUD == sink.text
    assert any(r.startswith("logprobs:p10=") for r in reply.reason_texts)
    assert local.requests[0]["logprobs"] is True and len(cloud.requests) == 1


@pytest.mark.parametrize("status", [429, 500])
async def test_cloud_errors_give_the_local_answer_with_a_notice(parts, status):
    tutor, _, cloud, ledger = parts
    cloud.behaviour.statuses = [status]
    reply = await tutor.handle(ask("Compare lists and tuples"))
    assert reply.route == "local" and reply.notice == CLOUD_DOWN_NOTICE
    assert reply.text.startswith(LOCAL) and reply.outcome == "fell_back"
    reason = "rate-limited" if status == 429 else "server-error"
    assert f"failover:cloud:{reason}" in reply.reason_texts
    assert [row.reply for row in ledger.rows] == [reply]


async def test_a_slow_ollama_escalates_to_the_cloud(parts):
    tutor, local, _, _ = parts
    tutor.settings = impatient(tutor.settings, "local", first_token_s=0.5)
    local.behaviour.delay_first = 2.0  # past the 0.5 s first-token timeout
    reply = await tutor.handle(ask())
    assert reply.route == "cloud" and reply.text == CLOUD
    assert "failover:local:first-token-timeout" in reply.reason_texts
    assert "escalate:local-failed" in reply.reason_texts


async def test_a_cloud_timeout_falls_back_to_local(parts):
    tutor, _, cloud, _ = parts
    tutor.settings = impatient(tutor.settings, "cloud", first_token_s=0.5)
    cloud.behaviour.delay_first = 2.0  # past the 0.5 s first-token timeout
    reply = await tutor.handle(ask("Explain in detail how lists grow"))
    assert reply.route == "local" and "failover:cloud:first-token-timeout" in reply.reason_texts


def _unsure(token, i):
    return {"token": token, "logprob": -3.5, "bytes": list(token.encode()), "top_logprobs": []}
