"""Buttons under answers: thumbs up/down, "Ask the detailed model", "Ask a TA".

They are persistent components: everything a press needs (the vote, the answer's
correlation id, its route) is in the button's ``custom_id``, and discord.py matches
presses to these DynamicItem classes by template, so buttons on answers sent before a
restart still work after it. A press hands over to the adapter (a ButtonBridge).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import discord

ANSWER = r"[A-Za-z0-9_-]{1,64}"
VOTE_ID = re.compile(rf"tutor:vote:(?P<vote>up|down):(?P<route>local|cloud):(?P<answer>{ANSWER})")
FOLLOW_ID = re.compile(rf"tutor:(?P<action>detail|human):(?P<answer>{ANSWER})")
LABELS = {"detail": "Ask the detailed model", "human": "Ask a TA"}


class ButtonBridge(Protocol):
    async def pressed(
        self, interaction: discord.Interaction, name: str, args: Mapping[str, str]
    ) -> None: ...


def _bridge(interaction: discord.Interaction) -> ButtonBridge:
    return interaction.client.adapter  # type: ignore[attr-defined,no-any-return]


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=VOTE_ID.pattern):
    """👍 or 👎 on one answer."""

    def __init__(self, vote: str, route: str, answer: str) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                emoji="\N{THUMBS UP SIGN}" if vote == "up" else "\N{THUMBS DOWN SIGN}",
                custom_id=f"tutor:vote:{vote}:{route}:{answer}",
            )
        )
        self.vote, self.route, self.answer = vote, route, answer

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Button[Any],
        match: re.Match[str],
    ) -> VoteButton:
        return cls(match["vote"], match["route"], match["answer"])

    async def callback(self, interaction: discord.Interaction) -> None:
        args = {"vote": self.vote, "route": self.route, "answer": self.answer}
        await _bridge(interaction).pressed(interaction, "feedback", args)


class FollowButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=FOLLOW_ID.pattern):
    """ "Ask the detailed model" or "Ask a TA" about one answer."""

    def __init__(self, action: str, answer: str) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.primary
                if action == "detail"
                else discord.ButtonStyle.secondary,
                label=LABELS[action],
                custom_id=f"tutor:{action}:{answer}",
            )
        )
        self.action, self.answer = action, answer

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Button[Any],
        match: re.Match[str],
    ) -> FollowButton:
        return cls(match["action"], match["answer"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await _bridge(interaction).pressed(interaction, self.action, {"answer": self.answer})


def feedback_view(answer: str, route: str) -> discord.ui.View | None:
    """👍 👎 under an answer; None when the answer cannot carry them."""
    if not re.fullmatch(ANSWER, answer) or route not in {"local", "cloud"}:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton("up", route, answer))
    view.add_item(VoteButton("down", route, answer))
    return view


def follow_view(actions: Sequence[str], answer: str) -> discord.ui.View | None:
    """The follow-ups the core offered (after a thumbs down), as buttons."""
    wanted = [a for a in actions if a in LABELS]
    if not wanted or not re.fullmatch(ANSWER, answer):
        return None
    view = discord.ui.View(timeout=None)
    for action in wanted:
        view.add_item(FollowButton(action, answer))
    return view


def staff_mentions(role: str | None) -> discord.AllowedMentions:
    """The one ping the bot may send: the staff role, nobody and nothing else."""
    roles = [discord.Object(int(role))] if role and role.isdigit() else False
    return discord.AllowedMentions(everyone=False, users=False, roles=roles, replied_user=False)
