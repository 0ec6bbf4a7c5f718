"""The real ``openai`` client against a loopback Chat Completions server."""

import pytest

from bot.config import OpenAIModel
from bot.events import ChatMessage
from bot.models.openai import OpenAIChatModel
from bot.ports import (
    Generation,
    ModelRateLimited,
    ModelServerError,
    ModelTimeout,
    ModelUnavailable,
    TextDelta,
)
from tests.loopback.openai_server import OpenAIServer

PROMPT = [ChatMessage("system", "be thorough"), ChatMessage("user", "compare lists and tuples")]


def model(base_url, key="sk-test", **kw):
    config = OpenAIModel(provider="openai", model="gpt-4o-mini", base_url=base_url, **kw)
    return OpenAIChatModel("gpt-4o-mini", config, api_key=key)


@pytest.fixture
async def server():
    async with OpenAIServer() as s:
        yield s


async def test_streams_with_usage_from_the_final_chunk(server):
    m = model(server.base_url)
    events = [e async for e in m.stream(PROMPT)]
    final = events[-1]
    assert isinstance(final, Generation)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == final.text
    assert final.text == "Here is a detailed explanation."
    assert (final.input_tokens, final.output_tokens) == (6, 5)
    assert final.finish_reason == "stop"
    sent = server.requests[0]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["max_completion_tokens"] == 512
    assert server.headers[0]["Authorization"] == "Bearer sk-test"
    await m.aclose()


async def test_429_then_success_is_retried_by_the_client(server):
    server.behaviour.statuses = [429]
    m = model(server.base_url, max_retries=1)
    gen = await m.generate(PROMPT)
    assert gen.text and len(server.requests) == 2
    await m.aclose()


async def test_rate_limit_without_retries_is_typed_with_retry_after(server):
    server.behaviour.statuses = [429]
    server.behaviour.retry_after = "7"
    m = model(server.base_url, max_retries=0)
    with pytest.raises(ModelRateLimited) as err:
        await m.generate(PROMPT)
    assert err.value.retry_after == 7.0
    await m.aclose()


async def test_500_is_a_server_error(server):
    server.behaviour.statuses = [500, 500]
    m = model(server.base_url, max_retries=0)
    with pytest.raises(ModelServerError, match="500"):
        await m.generate(PROMPT)
    await m.aclose()


async def test_bad_key_and_no_key(server):
    server.behaviour.statuses = [401]
    m = model(server.base_url, max_retries=0)
    with pytest.raises(ModelUnavailable) as err:
        await m.generate(PROMPT)
    assert err.value.reason == "bad-key"
    await m.aclose()
    with pytest.raises(ModelUnavailable) as err:
        await model(server.base_url, key=None).generate(PROMPT)
    assert err.value.reason == "no-key" and err.value.hint == "set OPENAI_API_KEY"
    assert len(server.requests) == 1  # no request without a key


async def test_timeout_and_refused_connection(server, unused_tcp_port):
    server.behaviour.delay_first = 2
    m = model(server.base_url, timeout_s=0.3, max_retries=0)
    with pytest.raises(ModelTimeout):
        await m.generate(PROMPT)
    await m.aclose()
    m = model(f"http://127.0.0.1:{unused_tcp_port}/v1", max_retries=0)
    with pytest.raises(ModelUnavailable) as err:
        await m.generate(PROMPT)
    assert err.value.reason == "unreachable"
    await m.aclose()


async def test_a_stream_without_usage_is_counted_locally_and_marked_estimated(server):
    """Finding 12: a server that reports no usage must not make a cloud answer free."""
    server.behaviour.usage = False
    m = model(server.base_url)
    final = [e async for e in m.stream(PROMPT)][-1]
    assert isinstance(final, Generation)
    assert final.input_tokens > 0 and final.output_tokens > 0
    assert final.usage_estimated
    await m.aclose()
