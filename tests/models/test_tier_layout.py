"""The README's tier layout is a config that loads and does what the README says."""

import re
from pathlib import Path

import pytest

from bot.config import load_config
from bot.core.tutor import Tutor
from bot.events import IncomingMessage
from bot.models.registry import ModelRegistry
from tests.fakes import FakeChatModel, Script

README = Path(__file__).resolve().parents[2] / "README.md"


def layout() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Tiers: free, pro and enterprise from one config", 1)[1]
    match = re.search(r"```toml\n(.*?)```", section, re.S)
    assert match, "the README's tier section has no toml block"
    return match.group(1)


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(layout(), encoding="utf-8")
    return load_config(path, {"OPENAI_API_KEY": "sk-x", "ANTHROPIC_API_KEY": "sk-ant-x"})


def test_the_layout_loads_with_the_playbooks_tiers(settings):
    assert settings.chain("free") == ["llama", "embedded", "gpt-4o-mini"]
    assert "gpt-4o" in settings.chain("pro")
    assert settings.chain("enterprise")[0] == "claude-opus"
    assert settings.models["claude-opus"].provider == "anthropic"
    assert settings.roles.code_gen == "claude-sonnet"
    assert settings.prices.models["claude-opus-5-5"].cache_read is not None


def fakes(settings):
    return {
        name: FakeChatModel(name, Script(f"answer from {name}"), is_local=settings.is_local(name))
        for name in settings.models
    }


@pytest.mark.parametrize(
    ("tier", "text", "model"),
    [
        ("enterprise", "What is a list?", "claude-opus"),
        ("enterprise", "Write a function that reverses a list", "claude-sonnet"),
        ("pro", "Write a function that compares two lists in detail", "claude-sonnet"),
        ("pro", "Explain in detail how lists grow", "gpt-4o"),
        ("free", "Write a function that compares two lists in detail", "claude-sonnet"),
        ("free", "Explain in detail how lists grow", "gpt-4o-mini"),
        ("free", "What is a list?", "llama"),
    ],
)
async def test_questions_reach_the_model_the_layout_names(settings, tier, text, model):
    registry = ModelRegistry(settings, models=fakes(settings))
    reply = await Tutor(settings, registry).handle(
        IncomingMessage(text=text, user="u", channel="c", tier=tier)
    )
    assert reply.model == model, reply.reason_texts
