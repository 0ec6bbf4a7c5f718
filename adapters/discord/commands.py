"""The ``/tutor`` slash command group for Discord, and the pure helpers behind it.

The group only declares commands and their options; every callback hands over to a
CommandBridge (the adapter), which builds the CommandRequest, decides who is a
moderator, defers slow work and answers. :func:`commands_differ` tells whether the
commands Discord has registered are still the ones declared here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol

import discord
from discord import app_commands

from bot.events import CommandResult

CHOICE_LIMIT = 25  # Discord shows at most 25 autocomplete choices
CHOICE_NAME_LIMIT = 100

# What Discord adds to a command it registered (ids, a version), none of it declared here.
_REGISTRY_FIELDS = frozenset(
    {
        "id",
        "application_id",
        "version",
        "guild_id",
        "default_permission",
        "name_localized",
        "description_localized",
    }
)
# Values Discord fills in for a field left out, or reports for one sent as null.
_DEFAULTS: dict[str, Any] = {"dm_permission": True, "integration_types": [0]}


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
    permissions: discord.Permissions, role_ids: Iterable[int], moderator_role_ids: Collection[int]
) -> bool:
    """Manage Server (or Administrator), or a role whose id the config lists.

    Roles count by id, never by name: anyone allowed to create roles could name one
    "Moderator".
    """
    if permissions.manage_guild or permissions.administrator:
        return True
    return any(role in moderator_role_ids for role in role_ids)


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


def local_payloads(
    tree: app_commands.CommandTree[Any], guild: discord.abc.Snowflake | None = None
) -> list[dict[str, Any]]:
    """What ``tree.sync(guild=guild)`` would send to Discord."""
    return [command.to_dict(tree) for command in tree.get_commands(guild=guild)]


async def registered_payloads(
    client: discord.Client, guild: discord.abc.Snowflake | None = None
) -> list[dict[str, Any]]:
    """The commands Discord has registered for the app, as Discord sends them.

    The same calls as ``CommandTree.fetch_commands``, but the raw payloads: discord.py
    2.7's AppCommand reads ``contexts`` and ``integration_types`` one bit off
    (Rapptz/discord.py#10525), so its ``to_dict`` cannot be compared.
    """
    app = client.application_id
    if app is None:
        raise app_commands.MissingApplicationID
    if guild is None:
        return list(await client.http.get_global_commands(app))
    return list(await client.http.get_guild_commands(app, guild.id))


def commands_differ(
    declared: Sequence[Mapping[str, Any]], registered: Sequence[Mapping[str, Any]]
) -> bool:
    """True when Discord's registered commands are not the declared ones.

    Both sides are compared without what Discord adds (ids, versions) and with its
    defaults and empty values left out, so an unchanged command never counts as changed.
    """

    def key(payload: dict[str, Any]) -> tuple[int, str]:
        return int(payload.get("type", 1)), str(payload.get("name"))

    ours = sorted((_comparable(p) for p in declared), key=key)
    theirs = sorted((_comparable(p) for p in registered), key=key)
    return ours != theirs


def _comparable(payload: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in payload.items():
        if name in _REGISTRY_FIELDS:
            continue
        if name == "default_member_permissions" and value is not None:
            value = str(value)  # Discord sends the bit set as a string
        if isinstance(value, Mapping):
            value = dict(value)  # localisations
        elif isinstance(value, list):
            if all(isinstance(item, int) for item in value):
                value = sorted(value)  # contexts, installs, channel types: sets
            else:
                value = [_comparable(v) if isinstance(v, Mapping) else v for v in value]
        if value is None or value is False or value == [] or value == {}:
            continue
        if name in _DEFAULTS and _DEFAULTS[name] == value:
            continue
        out[name] = value
    return out


@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
@app_commands.allowed_installs(guilds=True, users=False)
class TutorCommands(app_commands.Group, name="tutor", description="Ask the course tutor"):
    """``/tutor ask|forget|privacy|why``, and for moderators ``model|tier|cost|reindex|faq``.

    Offered in servers and in DMs with the bot, for an app installed to a server. Said
    explicitly, so the registered command reads back exactly as declared.
    """

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

    @app_commands.command(description="A hint for your exercise, one step at a time")
    async def hint(self, interaction: discord.Interaction) -> None:
        await self.bridge.ask(interaction, "hint", False)

    @app_commands.command(description="Ask a person (the course staff) for help")
    @app_commands.describe(note="Anything the staff should know")
    async def human(self, interaction: discord.Interaction, note: str = "") -> None:
        args = {"note": note, "conversation": str(interaction.channel_id or "")}
        if interaction.channel is not None and hasattr(interaction.channel, "jump_url"):
            args["link"] = interaction.channel.jump_url
        await self.bridge.run_command(interaction, "human", args)

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

    @app_commands.command(description="Moderators: guide (hints, no solutions) or answer")
    @app_commands.describe(mode="guide: hints for exercises; answer: full answers; show")
    async def mode(
        self,
        interaction: discord.Interaction,
        mode: Literal["guide", "answer", "show"] = "show",
    ) -> None:
        await self.bridge.run_command(interaction, "mode", {"mode": mode})

    @app_commands.command(description="Moderators: redirect messages that are off topic")
    @app_commands.describe(mode="on: a short redirect; off: answer everything")
    async def offtopic(
        self, interaction: discord.Interaction, mode: Literal["on", "off"] = "on"
    ) -> None:
        await self.bridge.run_command(interaction, "offtopic", {"mode": mode})

    @app_commands.command(description="Moderators: what learners ask, gaps, votes, hand-offs")
    @app_commands.describe(period="The period it covers")
    async def insights(
        self,
        interaction: discord.Interaction,
        period: Literal["day", "week", "month"] = "week",
    ) -> None:
        await self.bridge.run_command(interaction, "insights", {"period": period}, slow=True)

    @app_commands.command(description="Moderators: re-read the course material")
    async def reindex(self, interaction: discord.Interaction) -> None:
        await self.bridge.run_command(interaction, "reindex", slow=True)

    faq = app_commands.Group(name="faq", description="Answers course memory gives again")

    @faq.command(name="list", description="Moderators: the answers given again here")
    async def faq_list(self, interaction: discord.Interaction) -> None:
        await self.bridge.run_command(interaction, "faq.list")

    @faq.command(name="pin", description="Moderators: give this answer whatever its votes")
    @app_commands.describe(entry="The entry's number, from /tutor faq list")
    async def faq_pin(self, interaction: discord.Interaction, entry: int) -> None:
        await self.bridge.run_command(interaction, "faq.pin", {"id": str(entry)})

    @faq.command(name="forget", description="Moderators: never give this answer again")
    @app_commands.describe(entry="The entry's number, from /tutor faq list")
    async def faq_forget(self, interaction: discord.Interaction, entry: int) -> None:
        await self.bridge.run_command(interaction, "faq.forget", {"id": str(entry)})
