"""The runner in-process: moderators told through running adapters, a bounded drain."""

from __future__ import annotations

import asyncio
import logging

from bot.events import ChatMessage
from bot.models.base import StreamingModel
from bot.ports import GenerationParams, TextDelta
from tests.fakes import FakeChatModel, Script
from tests.loopback import PATIENCE_S
from tests.loopback.discord_server import DiscordServer
from tests.reliability.harness import DISCORD_TOKEN, environment, serving
from tests.service_helpers import write_service_config


async def test_a_spent_budget_is_told_to_moderators_once_through_the_running_adapter(tmp_path):
    """Expectation: when a tier's monthly cloud budget is spent, its learners are answered
    locally and the moderators' channel (a [digests] target) is told once, via Discord."""
    async with DiscordServer(token=DISCORD_TOKEN) as discord:
        mods = discord.text_channel("moderators")
        config = write_service_config(
            tmp_path,
            extra=f"""
            [tiers.paid]
            chain = ["fallback", "default"]
            monthly_budget_usd = 0.000001
            router = {{ cloud_first = true }}

            [digests]
            targets = [{{ platform = "discord", channel = "{mods["id"]}" }}]
            """,
        )
        models = {
            "local": FakeChatModel("local", Script("A local answer.")),
            "cloud": FakeChatModel("cloud", Script("A cloud answer."), is_local=False),
        }
        env = environment(tmp_path / "data", discord=discord)
        async with serving(config, env, discord=discord, models=models) as stack:
            learner = discord.user("ada")
            guild = str(discord.guild_id)
            await stack.app.preferences.set_tier("discord", guild, learner["id"], "paid")
            for n in range(3):
                await discord.post_message(f"Question {n}?", author=learner, mention_bot=True)
                await stack.answered(n + 1)
            await discord.wait_for(lambda c: c.path == f"/channels/{mods['id']}/messages")

    told = discord.sends(mods)
    assert (
        len(told) == 1 and "paid tier has used its monthly cloud budget" in told[0].json["content"]
    )
    assert [r.route for r in stack.replies] == ["cloud", "local", "local"]
    assert "budget:paid-exhausted" in stack.replies[1].reason_texts


class Stuck(StreamingModel):
    """Starts an answer, then never finishes it."""

    provider = "fake"
    is_local = True

    def __init__(self) -> None:
        self.name = "local"
        self.started = asyncio.Event()

    async def stream(self, messages: list[ChatMessage], params: GenerationParams | None = None):
        yield TextDelta("Thinking")
        self.started.set()
        await asyncio.Event().wait()


async def test_an_answer_still_running_after_the_drain_timeout_is_cut_short(tmp_path, caplog):
    """Expectation: stopping waits for answers in progress only up to drain_timeout_s;
    one still running then is cancelled and logged, and the service still exits 0."""
    caplog.set_level(logging.WARNING)
    model = Stuck()
    async with DiscordServer(token=DISCORD_TOKEN) as discord:
        config = write_service_config(tmp_path, chain=["default"], drain_timeout_s=0.5)
        env = environment(tmp_path / "data", discord=discord)
        async with serving(config, env, discord=discord, models={"local": model}):
            await discord.post_message("Hard one?", author=discord.user("ada"), mention_bot=True)
            await asyncio.wait_for(model.started.wait(), PATIENCE_S)
    assert any("1 answer(s) were cut short" in r.getMessage() for r in caplog.records)
