"""Streamed answers are recorded with the same usage and cost as non-streamed ones.

The real ``ollama`` and ``openai`` clients talk to loopback servers; the tutor streams
(as it always does) and the ledger records. The same prompt is then sent again
without streaming, and the usage the server reports must match the recorded row.
"""

import ollama
import openai
import pytest

from bot.config import load_config
from bot.core.tutor import Tutor
from bot.events import ChatMessage, IncomingMessage
from bot.ledger.store import Ledger
from bot.models.registry import ModelRegistry
from tests.conftest import write_config
from tests.fakes import RecordingSink
from tests.loopback.ollama_server import OllamaServer
from tests.loopback.openai_server import OpenAIServer

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

[tiers.enterprise]
chain = ["cloud", "local"]

[prices.models]
"gpt-4o-mini" = {{ input = 0.15, output = 0.60 }}
"""


def price(tokens_in: int, tokens_out: int) -> float:
    return (tokens_in * 0.15 + tokens_out * 0.60) / 1e6


@pytest.fixture
async def servers():
    async with OllamaServer() as local, OpenAIServer() as cloud:
        local.behaviour.text = "A list keeps items in order and can change."
        cloud.behaviour.text = "Lists are mutable sequences; tuples are immutable ones."
        yield local, cloud


@pytest.fixture
def settings(tmp_path, servers):
    local, cloud = servers
    path = write_config(tmp_path, CONFIG.format(ollama=local.url, openai=cloud.base_url))
    return load_config(path, {"OPENAI_API_KEY": "sk-test"})


async def test_streamed_usage_equals_non_streamed_usage_in_the_ledger(settings, servers):
    local, cloud = servers
    registry = ModelRegistry(settings)
    async with Ledger(settings, purge_every_s=None) as ledger:
        tutor = Tutor(settings, registry, ledger=ledger)
        question = "Compare lists and tuples, please."
        on_cloud = await tutor.handle(
            IncomingMessage(text=question, user="u1", channel="c", tier="enterprise"),
            RecordingSink(),
        )
        on_local = await tutor.handle(
            IncomingMessage(text=question, user="u2", channel="c", tier="free", local_only=True),
            RecordingSink(),
        )
        recorded = await ledger.query(
            "SELECT model, input_tokens, output_tokens, cost_usd, saved_usd FROM interactions"
            " ORDER BY id"
        )
    assert (on_cloud.model, on_local.model) == ("cloud", "local")

    # The same prompts, not streamed, through the real clients.
    client = openai.AsyncOpenAI(api_key="sk-test", base_url=cloud.base_url, max_retries=0)
    plain = await client.chat.completions.create(
        model="gpt-4o-mini", messages=cloud.requests[-1]["messages"], stream=False
    )
    await client.close()
    assert plain.usage is not None
    cloud_in, cloud_out = plain.usage.prompt_tokens, plain.usage.completion_tokens
    plain_local = await ollama.AsyncClient(host=local.url).chat(
        model="llama3.2:3b", messages=local.requests[-1]["messages"], stream=False
    )
    local_in, local_out = plain_local.prompt_eval_count, plain_local.eval_count
    assert cloud_in and cloud_out and local_in and local_out

    assert recorded == [
        ("cloud", cloud_in, cloud_out, pytest.approx(price(cloud_in, cloud_out)), 0.0),
        ("local", local_in, local_out, 0.0, pytest.approx(price(local_in, local_out))),
    ]
    # generate() is stream() drained, and reports the very same usage
    for name, server, usage in (
        ("local", local, (local_in, local_out)),
        ("cloud", cloud, (cloud_in, cloud_out)),
    ):
        prompt = [ChatMessage(**m) for m in server.requests[-1]["messages"]]
        generated = await registry.get(name).generate(prompt)
        assert (generated.input_tokens, generated.output_tokens) == usage
    await registry.aclose()
