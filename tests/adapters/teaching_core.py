"""A real Tutor and Commands on a real ledger, a scripted local model and the loopback
OpenAI server as the cloud: for the platform adapters' teaching tests."""

from __future__ import annotations

from bot.config import Settings, load_config
from bot.core.commands import Commands
from bot.core.tutor import Tutor
from bot.events import IncomingMessage, Reply
from bot.ledger.store import Ledger
from bot.ledger.teaching import LedgerTeaching
from bot.models.registry import ModelRegistry
from tests.conftest import TEST_CONFIG, write_config
from tests.fakes import FakeChatModel, Script

LOCAL_ANSWER = "A loop repeats a block of code."


def teaching_settings(
    tmp_path, openai_url: str, platform: str, channel: str, role: str
) -> Settings:
    text = TEST_CONFIG.replace(
        '[models.cloud]\nprovider = "openai"',
        f'[models.cloud]\nprovider = "openai"\nbase_url = "{openai_url}"',
    )
    assert openai_url in text
    text += f"""
[teaching]
staff_channel = {{ {platform} = "{channel}" }}
staff_role = {{ {platform} = "{role}" }}
"""
    return load_config(write_config(tmp_path, text), {"OPENAI_API_KEY": "sk-test"})


class TeachingCore:
    """What the app wires together, with a scripted local model."""

    def __init__(self, settings: Settings, ledger: Ledger, teaching: LedgerTeaching) -> None:
        models = {
            "local": FakeChatModel("local", Script(LOCAL_ANSWER)),
            "tiny": FakeChatModel("tiny"),
        }
        self.registry = ModelRegistry(settings, models=models)
        self.tutor = Tutor(settings, self.registry, ledger=ledger, teaching=teaching)
        self.commands = Commands(
            settings, self.tutor, self.registry, self.tutor.preferences, records=teaching
        )
        self.replies: list[Reply] = []

    async def handle(self, msg: IncomingMessage, sink) -> Reply:  # type: ignore[no-untyped-def]
        reply = await self.tutor.handle(msg, sink)
        self.replies.append(reply)
        return reply
