"""The real ``ollama`` client against a loopback server speaking Ollama's API."""

import pytest

from bot.config import OllamaModel
from bot.events import ChatMessage
from bot.models.ollama import OllamaChatModel
from bot.ports import (
    Generation,
    ModelNotFound,
    ModelServerError,
    ModelTimeout,
    ModelUnavailable,
    TextDelta,
)
from tests.loopback.ollama_server import OllamaServer

PROMPT = [ChatMessage("system", "be brief"), ChatMessage("user", "what is a list")]


def model(url, **kw):
    config = OllamaModel(provider="ollama", model="llama3.2:3b", keep_alive="10m", **kw)
    return OllamaChatModel("ollama", config, host=url)


@pytest.fixture
async def server():
    async with OllamaServer() as s:
        yield s


async def test_streams_text_with_final_metrics_and_logprobs(server):
    m = model(server.url, options={"temperature": 0.1})
    events = [e async for e in m.stream(PROMPT)]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    final = events[-1]
    assert isinstance(final, Generation)
    assert "".join(d.text for d in deltas) == final.text == "A list is an ordered collection."
    assert final.output_tokens == 6 and final.input_tokens == 6
    assert final.finish_reason == "stop"
    assert final.logprobs is not None and len(final.logprobs) == 6
    assert final.ttft_ms is not None and final.latency_ms >= final.ttft_ms
    sent = server.requests[0]
    assert sent["keep_alive"] == "10m" and sent["logprobs"] is True
    assert sent["options"]["temperature"] == 0.1 and sent["options"]["num_predict"] == 512
    assert sent["messages"][1] == {"role": "user", "content": "what is a list"}
    await m.aclose()


async def test_generate_reports_the_same_usage_as_stream(server):
    m = model(server.url)
    streamed = [e async for e in m.stream(PROMPT)][-1]
    generated = await m.generate(PROMPT)
    assert (generated.text, generated.input_tokens, generated.output_tokens) == (
        streamed.text,
        streamed.input_tokens,
        streamed.output_tokens,
    )
    await m.aclose()


async def test_unknown_model_says_which_ollama_pull_to_run(server):
    server.behaviour.models = {"other"}
    m = model(server.url)
    with pytest.raises(ModelNotFound) as err:
        await m.generate(PROMPT)
    assert err.value.hint == "run `ollama pull llama3.2:3b`"
    assert "ollama pull llama3.2:3b" in str(err.value)
    await m.aclose()


async def test_error_line_mid_stream_is_a_server_error_after_partial_text(server):
    server.behaviour.error_after = 2
    m = model(server.url)
    seen = []
    with pytest.raises(ModelServerError, match="mid-stream"):
        async for event in m.stream(PROMPT):
            seen.append(event)
    assert [e.text for e in seen] == ["A", " list"]
    await m.aclose()


async def test_http_errors_are_typed(server):
    m = model(server.url)
    server.behaviour.status = 503
    with pytest.raises(ModelUnavailable) as err:
        await m.generate(PROMPT)
    assert err.value.reason == "busy"
    server.behaviour.status = 500
    with pytest.raises(ModelServerError, match="HTTP 500"):
        await m.generate(PROMPT)
    await m.aclose()


async def test_slow_server_trips_the_timeout(server):
    server.behaviour.delay_first = 2.0
    m = model(server.url, timeout_s=0.3)
    with pytest.raises(ModelTimeout):
        await m.generate(PROMPT)
    await m.aclose()


async def test_refused_connection_is_unreachable_with_a_hint(unused_tcp_port):
    m = model(f"http://127.0.0.1:{unused_tcp_port}")
    with pytest.raises(ModelUnavailable) as err:
        await m.generate(PROMPT)
    assert err.value.reason == "unreachable" and "ollama serve" in (err.value.hint or "")
    await m.aclose()


async def test_warm_preloads_with_keep_alive(server):
    m = model(server.url)
    await m.warm()
    sent = server.requests[-1]
    assert (sent["model"], sent["messages"], sent["keep_alive"]) == ("llama3.2:3b", [], "10m")
    await m.aclose()


async def test_older_server_without_logprobs_gives_none(server):
    server.behaviour.logprobs = False
    m = model(server.url)
    assert (await m.generate(PROMPT)).logprobs is None
    await m.aclose()
