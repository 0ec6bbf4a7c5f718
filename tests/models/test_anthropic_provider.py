"""The real ``anthropic`` client against a loopback Messages API server."""

import pytest

from bot.config import AnthropicModel
from bot.events import ChatMessage
from bot.models.anthropic import AnthropicChatModel, to_messages
from bot.ports import (
    Generation,
    ModelNotFound,
    ModelRateLimited,
    ModelServerError,
    ModelUnavailable,
    TextDelta,
)
from tests.loopback.anthropic_server import AnthropicServer

MATERIAL = (
    "<course-material>\n[1] Lists (lists.md)\nA list is a mutable sequence.\n</course-material>"
)
PROMPT = [
    ChatMessage("system", "You are a patient tutor."),
    ChatMessage("user", f"{MATERIAL}\n\nMy question:\nWhat is a list?"),
]


def model(base_url, key="sk-ant-test", name="claude-sonnet-5-5", **kw):
    config = AnthropicModel(provider="anthropic", model=name, base_url=base_url, **kw)
    return AnthropicChatModel("claude", config, api_key=key)


@pytest.fixture
async def server():
    async with AnthropicServer(api_key="sk-ant-test") as s:
        yield s


async def test_streams_text_and_usage_from_the_events(server):
    m = model(server.base_url)
    events = [e async for e in m.stream(PROMPT)]
    final = events[-1]
    assert isinstance(final, Generation)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == final.text
    assert final.text == "Claude explains it step by step."
    assert final.finish_reason == "stop" and final.ttft_ms is not None
    reported = server.usages[0]
    assert final.output_tokens == reported["output_tokens"] == 6
    assert final.input_tokens == (
        reported["input_tokens"]
        + reported["cache_read_input_tokens"]
        + reported["cache_creation_input_tokens"]
    )
    assert (final.cache_read_tokens, final.cache_write_tokens) == (
        reported["cache_read_input_tokens"],
        reported["cache_creation_input_tokens"],
    )
    sent, headers = server.requests[0], server.headers[0]
    assert sent["stream"] is True and sent["max_tokens"] == 512
    key = headers.get("x-api-key") or headers["Authorization"].removeprefix("Bearer ")
    assert key == "sk-ant-test" and "anthropic-version" in headers
    await m.aclose()


async def test_system_prompt_and_course_material_are_a_cached_prefix(server):
    m = model(server.base_url)
    first = await m.generate(PROMPT)
    again = await m.generate(PROMPT)
    sent = server.requests[0]
    assert sent["system"] == [
        {"type": "text", "text": "You are a patient tutor.", "cache_control": {"type": "ephemeral"}}
    ]
    material, question = sent["messages"][-1]["content"]
    assert material == {"type": "text", "text": MATERIAL, "cache_control": {"type": "ephemeral"}}
    assert question == {"type": "text", "text": "My question:\nWhat is a list?"}
    # The first call writes the prefix to the cache, the second reads it back.
    assert first.cache_write_tokens > 0 and first.cache_read_tokens == 0
    assert again.cache_read_tokens == first.cache_write_tokens and again.cache_write_tokens == 0
    assert again.input_tokens == first.input_tokens
    await m.aclose()


async def test_caching_can_be_turned_off(server):
    m = model(server.base_url, cache_prefix=False)
    gen = await m.generate(PROMPT)
    assert "cache_control" not in str(server.requests[0])
    assert gen.cache_write_tokens == gen.cache_read_tokens == 0
    await m.aclose()


def test_turns_alternate_and_start_with_the_learner():
    system, turns = to_messages(
        [
            ChatMessage("system", "a"),
            ChatMessage("system", "b"),
            ChatMessage("assistant", "hello"),
            ChatMessage("user", "q1"),
            ChatMessage("user", "q2"),
        ],
        cache=False,
    )
    assert system == [{"type": "text", "text": "a\n\nb"}]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[-1]["content"] == [{"type": "text", "text": "q1\n\nq2"}]


async def test_rate_limit_is_typed_with_retry_after(server):
    server.behaviour.statuses = [429]
    server.behaviour.retry_after = "7"
    m = model(server.base_url, max_retries=0)
    with pytest.raises(ModelRateLimited) as err:
        await m.generate(PROMPT)
    assert err.value.retry_after == 7.0 and err.value.reason == "rate-limited"
    await m.aclose()


async def test_429_then_success_is_retried_by_the_client(server):
    server.behaviour.statuses = [429]
    m = model(server.base_url, max_retries=1)
    gen = await m.generate(PROMPT)
    assert gen.text and len(server.requests) == 2
    await m.aclose()


async def test_529_is_overloaded(server):
    server.behaviour.statuses = [529]
    m = model(server.base_url, max_retries=0)
    with pytest.raises(ModelUnavailable) as err:
        await m.generate(PROMPT)
    assert err.value.reason == "overloaded"
    await m.aclose()


async def test_500_is_a_server_error(server):
    server.behaviour.statuses = [500]
    m = model(server.base_url, max_retries=0)
    with pytest.raises(ModelServerError, match="500"):
        await m.generate(PROMPT)
    await m.aclose()


@pytest.mark.parametrize(
    ("kind", "error", "reason"),
    [
        ("overloaded_error", ModelUnavailable, "overloaded"),
        ("api_error", ModelServerError, "server-error"),
        ("rate_limit_error", ModelRateLimited, "rate-limited"),
    ],
)
async def test_an_error_event_mid_stream_is_typed(server, kind, error, reason):
    server.behaviour.error_mid_stream = kind
    m = model(server.base_url, max_retries=0)
    deltas = []
    with pytest.raises(error) as err:
        async for event in m.stream(PROMPT):
            deltas.append(event)
    assert err.value.reason == reason
    assert len(deltas) == server.behaviour.error_after  # the text before the error arrived
    await m.aclose()


async def test_bad_key_unknown_model_and_no_key(server):
    m = model(server.base_url, key="sk-ant-wrong", max_retries=0)
    with pytest.raises(ModelUnavailable) as err:
        await m.generate(PROMPT)
    assert err.value.reason == "bad-key" and "ANTHROPIC_API_KEY" in str(err.value)
    assert "sk-ant-wrong" not in str(err.value)
    await m.aclose()

    m = model(server.base_url, name="claude-nonexistent", max_retries=0)
    with pytest.raises(ModelNotFound):
        await m.generate(PROMPT)
    await m.aclose()

    m = model(server.base_url, key=None)
    assert m.configured is False
    with pytest.raises(ModelUnavailable) as err:
        await m.generate(PROMPT)
    assert err.value.reason == "no-key"
    await m.aclose()
    assert len(server.requests) == 2  # the keyless model never called out


async def test_unreachable_server_is_unavailable():
    async with AnthropicServer() as gone:
        url = gone.base_url
    m = model(url, max_retries=0)
    with pytest.raises(ModelUnavailable) as err:
        await m.generate(PROMPT)
    assert err.value.reason == "unreachable"
    await m.aclose()


async def test_max_tokens_stop_is_length(server):
    server.behaviour.stop_reason = "max_tokens"
    m = model(server.base_url)
    gen = await m.generate(PROMPT)
    assert gen.finish_reason == "length"
    await m.aclose()


async def test_thinking_is_billed_but_never_shown(server):
    server.behaviour.thinking = "The learner asks about lists, keep it short."
    m = model(server.base_url)
    events = [e async for e in m.stream(PROMPT)]
    final = events[-1]
    assert [e.text for e in events[:-1]] == ["Claude", " explains", " it", " step", " by", " step."]
    assert final.text == "Claude explains it step by step."
    assert final.output_tokens == server.usages[0]["output_tokens"] == 6 + 8
    await m.aclose()
