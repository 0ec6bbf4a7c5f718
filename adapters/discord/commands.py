"""The ``/tutor`` slash command group for Discord, and the pure helpers behind it.

The group only declares commands and their options; every callback hands over to a
CommandBridge (the adapter), which builds the CommandRequest, decides who is a
moderator, defers slow work and answers.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Literal, Protocol

import discord
from discord import app_commands

from bot.events import CommandResult

CHOICE_LIMIT = 25  # Discord shows at most 25 autocomplete choices
CHOICE_NAME_LIMIT = 100


class CommandBridge(Protocol):
    """What the command group needs from the adapter."""

    async def ask(self, interaction: discord.Interaction, question: str, private: bool) -> None: ...

    async def run_command(
        self,
        interaction: discord.Interaction,
        name: str,
        args: Mapping[str, str] | None = None,
        *,
        slow: bool = False,
    ) -> None: ...

    async def model_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]: ...


def is_moderator(
    permissions: discord.Permissions, role_names: Iterable[str], moderator_roles: Collection[str]
) -> bool:
    """Manage Server (or Administrator), or a role whose name the config lists."""
    if permissions.manage_guild or permissions.administrator:
        return True
    wanted = {name.casefold() for name in moderator_roles}
    return any(name.casefold() in wanted for name in role_names)


def model_choices(result: CommandResult, current: str) -> list[tuple[str, str]]:
    """(label, value) pairs for autocomplete from a ``model.list`` result.

    The label is the model's line from the listing (provider, local or cloud, health),
    so moderators see which models are up before they pick one.
    """
    lines = {}
    for line in result.text.splitlines():
        for name in result.choices:
            if line.startswith(f"- `{name}`:"):
                lines[name] = line[2:].replace("`", "")
    needle = current.strip().casefold()
    pairs = [
        (lines.get(name, name)[:CHOICE_NAME_LIMIT], name)
        for name in result.choices
        if needle in name.casefold()
    ]
    if "default".startswith(needle):
        pairs.append(("default: back to the tier's own models", "default"))
    return pairs[:CHOICE_LIMIT]


class TutorCommands(app_commands.Group, name="tutor", description="Ask the course tutor"):
    """``/tutor ask|forget|privacy|why``, and for moderators ``model|tier|cost|reindex``."""

    def __init__(self, bridge: CommandBridge) -> None:
        super().__init__()
        self.bridge = bridge

    # --- everyone ----------------------------------------------------------------------

    @app_commands.command(description="Ask the tutor a question")
    @app_commands.describe(question="Your question", private="Only you see the answer")
    async def ask(
        self, interaction: discord.Interaction, question: str, private: bool = False
    ) -> None:
        await self.bridge.ask(interaction, question, private)

    @app_commands.command(description="Forget our conversation history")
    async def forget(self, interaction: discord.Interaction) -> None:
        await self.bridge.run_command(interaction, "forget")

    @app_commands.command(description="Only local models answer you (never a cloud service)")
    @app_commands.describe(mode="on: local models only; off: the cloud may help again")
    async def privacy(
        self, interaction: discord.Interaction, mode: Literal["on", "off"] = "on"
    ) -> None:
        await self.bridge.run_command(interaction, "privacy", {"mode": mode})

    @app_commands.command(description="Why your last answer came from the model it did")
    async def why(self, interaction: discord.Interaction) -> None:
        await self.bridge.run_command(interaction, "why")

    # --- moderators --------------------------------------------------------------------

    model = app_commands.Group(name="model", description="Which model answers here")

    @model.command(name="set", description="Moderators: answer with this model first")
    @app_commands.describe(model="A configured model, or default", scope="This channel or server")
    async def model_set(
        self,
        interaction: discord.Interaction,
        model: str,
        scope: Literal["channel", "server"] = "channel",
    ) -> None:
        await self.bridge.run_command(interaction, "model.set", {"model": model, "scope": scope})

    @model_set.autocomplete("model")
    async def _model_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.bridge.model_choices(interaction, current)

    @model.command(name="show", description="Which models answer in this channel")
    async def model_show(self, interaction: discord.Interaction) -> None:
        await self.bridge.run_command(interaction, "model.show")

    @model.command(name="list", description="The configured models and their health")
    async def model_list(self, interaction: discord.Interaction) -> None:
        await self.bridge.run_command(interaction, "model.list")

    tier = app_commands.Group(name="tier", description="Learners' tiers")

    @tier.command(name="set", description="Moderators: put a learner on a tier")
    @app_commands.describe(learner="The learner", tier="The tier's name, e.g. pro")
    async def tier_set(
        self, interaction: discord.Interaction, learner: discord.User, tier: str
    ) -> None:
        args = {"user": str(learner.id), "tier": tier}
        await self.bridge.run_command(interaction, "tier.set", args)

    @app_commands.command(description="Moderators: the cost digest now")
    @app_commands.describe(period="The period the digest covers")
    async def cost(
        self,
        interaction: discord.Interaction,
        period: Literal["day", "week", "month"] = "week",
    ) -> None:
        await self.bridge.run_command(interaction, "cost", {"period": period}, slow=True)

    @app_commands.command(description="Moderators: re-read the course material")
    async def reindex(self, interaction: discord.Interaction) -> None:
        await self.bridge.run_command(interaction, "reindex", slow=True)
