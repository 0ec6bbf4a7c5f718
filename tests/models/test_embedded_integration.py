"""The real embedded model (llama.cpp + SmolLM2-135M) end to end. No network, no keys."""

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app import BotApp
from bot.config import EmbeddedModel, load_config
from bot.events import ChatMessage, IncomingMessage
from bot.models.embedded import EmbeddedChatModel
from bot.ports import Generation, GenerationParams, TextDelta
from tests.fakes import RecordingSink

pytest.importorskip("llama_cpp", reason="the embedded extra is not installed")
pytestmark = pytest.mark.embedded

ROOT = Path(__file__).resolve().parents[2]
PROMPT = [
    ChatMessage("system", "You are a helpful Python tutor."),
    ChatMessage("user", "What is a list in Python?"),
]


def shipped_config(tmp_path: Path) -> Path:
    """The shipped config.toml with a short, patient embedded model.

    These tests check the plumbing, not speed: a shared CI machine may be slow.
    """
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    section = text.index("[models.embedded]")
    end = text.index("\n[", section + 1)
    embedded = (
        text[section:end]
        .replace("max_tokens = 256", "max_tokens = 48")
        .replace("first_token_timeout_s = 10.0", "first_token_timeout_s = 120.0")
        .replace("timeout_s = 120.0", "timeout_s = 300.0")
    )
    assert "max_tokens = 48" in embedded and "timeout_s = 300.0" in embedded
    path = tmp_path / "config.toml"
    # Relative paths (the routing examples, the course) still resolve to the repository.
    path.write_text(text[:section] + embedded + text[end:], encoding="utf-8")
    (tmp_path / "eval").symlink_to(ROOT / "eval")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def embedded():
    model = EmbeddedChatModel(
        "embedded", EmbeddedModel(provider="embedded", model="smollm2-135m", max_tokens=24)
    )
    yield model
    await model.aclose()


async def test_streams_an_answer_with_usage_and_logprobs(embedded):
    events = [
        e async for e in embedded.stream(PROMPT, GenerationParams(max_tokens=24, temperature=0))
    ]
    final = events[-1]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert isinstance(final, Generation)
    assert final.text.strip() and final.text == "".join(d.text for d in deltas)
    assert 0 < final.output_tokens <= 24
    assert final.input_tokens > 10  # the chat template plus both messages
    # every generated token but one cut off by max_tokens (llama.cpp never evaluates it)
    cut = final.finish_reason == "length"
    assert final.logprobs is not None and len(final.logprobs) == final.output_tokens - cut
    assert all(lp <= 0 for lp in final.logprobs)
    assert final.finish_reason in {"stop", "length"}
    assert final.ttft_ms is not None and final.ttft_ms > 0


async def test_generate_and_stream_agree_on_usage(embedded):
    params = GenerationParams(max_tokens=16, temperature=0)
    streamed = [e async for e in embedded.stream(PROMPT, params)][-1]
    generated = await embedded.generate(PROMPT, params)
    # llama.cpp reuses its KV cache between calls, so greedy text can differ slightly.
    assert (generated.input_tokens, generated.output_tokens) == (
        streamed.input_tokens,
        streamed.output_tokens,
    )


async def test_stopping_early_frees_the_model_for_the_next_call(embedded):
    async for event in embedded.stream(PROMPT, GenerationParams(max_tokens=200)):
        if isinstance(event, TextDelta):
            break  # the consumer walks away after one token
    final = await embedded.generate(PROMPT, GenerationParams(max_tokens=8))
    assert final.output_tokens > 0


async def test_a_call_given_up_while_queued_is_never_evaluated(embedded):
    """Under overload, calls that time out waiting for the model must not still run
    later: each would hold the single llama.cpp worker and delay the next learners."""
    banana = [ChatMessage("user", "Say the word banana.")]
    first = embedded.stream(PROMPT, GenerationParams(max_tokens=16, temperature=0))
    async with contextlib.aclosing(first):
        assert isinstance(await anext(first), TextDelta)  # the worker is busy with it
        queued = embedded.stream(banana, GenerationParams(max_tokens=16))
        waiting = asyncio.ensure_future(anext(queued))
        await asyncio.sleep(0)  # it is submitted to the worker, behind the first call
        waiting.cancel()  # what a first-token timeout does
        await asyncio.gather(waiting, return_exceptions=True)
        await queued.aclose()
        rest = [event async for event in first]
    await asyncio.get_running_loop().run_in_executor(embedded._executor, lambda: None)
    llm = embedded._llm
    evaluated = llm.detokenize(llm.input_ids[: llm.n_tokens].tolist()).decode("utf-8", "replace")
    assert isinstance(rest[-1], Generation)
    assert "Python" in evaluated and "banana" not in evaluated


async def test_tutor_falls_back_from_a_down_ollama_to_the_embedded_model(tmp_path):
    env = {"OLLAMA_HOST": f"http://127.0.0.1:{free_port()}", "TUTOR_DATA_DIR": str(tmp_path)}
    settings = load_config(shipped_config(tmp_path), env)
    async with BotApp(settings) as app:
        sink = RecordingSink()
        reply = await app.tutor.handle(
            IncomingMessage(text="What is a list in Python?", user="u", channel="c"), sink
        )
    assert reply.model == "embedded" and reply.route == "local"
    assert "failover:ollama:unreachable" in reply.reason_texts
    assert reply.text.strip() and sink.text == reply.text
    assert reply.usage.output_tokens > 0 and reply.usage.cost_usd == 0.0


def test_cli_ask_json_prints_the_contract_object(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"OPENAI_API_KEY", "DEFAULT_MODEL"}} | {
        "OLLAMA_HOST": f"http://127.0.0.1:{free_port()}",
        "TUTOR_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli.main",
            "--config",
            str(shipped_config(tmp_path)),
            "ask",
            "--json",
            "What is a list in Python?",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {
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
    assert out["route"] == "local" and out["answer"].strip()
    assert set(out["usage"]) == {"input_tokens", "output_tokens", "cost_usd", "estimated"}
    assert out["usage"]["output_tokens"] > 0
    assert isinstance(out["reasons"], list) and isinstance(out["citations"], list)
    assert "ollama" in result.stderr  # the fallback is visible: one status line
    assert "ollama" in (tmp_path / "logs" / "tutor.log").read_text(encoding="utf-8")


async def test_usage_matches_llama_cpps_own_count(embedded):
    for max_tokens in (8, 200):  # stopped by length, then (usually) by the model itself
        params = GenerationParams(max_tokens=max_tokens, temperature=0)
        ours = await embedded.generate(PROMPT, params)
        raw = embedded._llm.create_chat_completion(
            messages=[{"role": m.role, "content": m.content} for m in PROMPT],
            max_tokens=max_tokens,
            temperature=0,
        )
        assert (ours.input_tokens, ours.output_tokens) == (
            raw["usage"]["prompt_tokens"],
            raw["usage"]["completion_tokens"],
        ), ours.finish_reason
