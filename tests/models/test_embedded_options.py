"""``[models.embedded] options`` reach llama.cpp: sampling per call, loading once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import EmbeddedModel, load_config
from bot.events import ChatMessage
from bot.models.embedded import EmbeddedChatModel, split_options
from bot.ports import GenerationParams, ModelUnavailable

ROOT = Path(__file__).resolve().parents[2]
PROMPT = [ChatMessage("user", "Name three fruits.")]


def test_options_split_into_sampling_and_loading():
    sampling, loading = split_options({"temperature": 0.2, "repeat_penalty": 1.1, "n_batch": 64})
    assert sampling == {"temperature": 0.2, "repeat_penalty": 1.1}
    assert loading == {"n_batch": 64}


def test_an_unknown_option_is_named():
    with pytest.raises(ValueError, match=r"unknown option\(s\) num_ctx; sampling: "):
        split_options({"num_ctx": 4096, "temperature": 0.1})


def test_the_shipped_options_are_all_known():
    settings = load_config(ROOT / "config.toml", {})
    sampling, _ = split_options(settings.models["embedded"].options)
    assert "temperature" in sampling


async def test_a_misconfigured_model_says_what_is_wrong():
    model = EmbeddedChatModel(
        "embedded", EmbeddedModel(provider="embedded", model="smollm2-135m", options={"x": 1})
    )
    with pytest.raises(ModelUnavailable, match=r"\[models.embedded\] options: unknown option"):
        await model.generate(PROMPT)
    await model.aclose()


@pytest.mark.embedded
async def test_sampling_options_reach_llama_cpp(monkeypatch):
    pytest.importorskip("llama_cpp", reason="the embedded extra is not installed")
    options = {"temperature": 0.0, "repeat_penalty": 1.3, "top_k": 7, "last_n_tokens_size": 32}
    model = EmbeddedChatModel(
        "embedded",
        EmbeddedModel(provider="embedded", model="smollm2-135m", max_tokens=4, options=options),
    )
    llm = await model._ensure_loaded()
    assert llm.last_n_tokens_size == 32  # a loading option
    seen: dict = {}
    original = llm.create_completion

    def spy(**kwargs):
        seen.update(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(llm, "create_completion", spy)
    await model.generate(PROMPT, GenerationParams(max_tokens=4))
    assert {k: seen[k] for k in ("temperature", "repeat_penalty", "top_k")} == {
        "temperature": 0.0,
        "repeat_penalty": 1.3,
        "top_k": 7,
    }
    assert "last_n_tokens_size" not in seen
    await model.aclose()
