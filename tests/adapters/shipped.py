"""The default install for the platform tests: the shipped config.toml and no OpenAI key.

Its free tier names a cloud model (the fallback), but with no key that model cannot take
over, so a local answer must stream rather than be held back and sent in one piece.
"""

from __future__ import annotations

from pathlib import Path

from bot.config import load_config
from bot.core.tutor import Tutor
from bot.models.registry import ModelRegistry
from tests.fakes import FakeChatModel, Script

ROOT = Path(__file__).resolve().parents[2]

# About 1,300 characters of varied prose (not a repetition loop), streamed word by word.
LONG_ANSWER = "\n\n".join(
    [
        "A list in Python is an ordered collection that you can change after creating it. "
        "You write one with square brackets, like `[3, 1, 2]`, and each item keeps its place.",
        "You add items with `append`, which puts one at the end, or with `insert`, which "
        "takes a position first. Removing works with `remove` for a value or `pop` for a "
        "position; `pop` also hands the removed item back to you.",
        "Indexing starts at zero, so `items[0]` is the first element and `items[-1]` the "
        "last. Slices such as `items[1:3]` give a new list with the elements from one up to, "
        "but not including, three.",
        "Sorting can happen in place with `items.sort()`, or you can keep the original and "
        "get a sorted copy from `sorted(items)`. Both accept a `key` function and a "
        "`reverse` flag when the natural order is not what you need.",
        "Try it: make a list of your three favourite numbers, append a fourth, sort them, "
        "and print the largest one. What does `len` tell you afterwards?",
    ]
)


def shipped_tutor(data_dir: Path, answer: str = LONG_ANSWER) -> Tutor:
    """The real Tutor on the shipped config, its local model replaced by a scripted one."""
    settings = load_config(ROOT / "config.toml", {"TUTOR_DATA_DIR": str(data_dir)})
    assert settings.secrets.openai_api_key is None
    chain = settings.chain(settings.routing.default_tier)
    assert any(not settings.is_local(name) for name in chain), "the chain names a cloud model"
    local = settings.roles.default
    models = {local: FakeChatModel(local, Script(answer))}
    return Tutor(settings, ModelRegistry(settings, models=models))
