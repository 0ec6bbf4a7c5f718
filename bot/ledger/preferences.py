"""The PreferenceStore port on the ledger's database, so choices survive restarts.

Reads are served from memory (every message asks for its preferences); every change
is committed to SQLite before the memory copy changes, so what a moderator was told
is saved is saved.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.core.preferences import MemoryPreferences
from bot.ports import Preferences

if TYPE_CHECKING:
    from bot.ledger.store import Ledger

SERVER = ""  # the channel column's value for a whole-server setting (channel=None)
# The workspace column's value for a choice that holds on every server and in DMs (privacy).
EVERYWHERE = "*"


class SqlitePreferences:
    """Per-channel models and per-learner tier and privacy, in the ledger's tables."""

    def __init__(self, ledger: Ledger, *, clock: Callable[[], float] = time.time) -> None:
        self._ledger = ledger
        self._clock = clock
        self._memory = MemoryPreferences()

    async def load(self) -> None:
        """Read every stored preference into memory (they are few: one row per choice)."""
        memory = MemoryPreferences()
        for platform, workspace, channel, model in await self._ledger.query(
            "SELECT platform, workspace, channel, model FROM channel_models"
        ):
            scope = None if channel == SERVER else channel
            await memory.set_model(platform, workspace, scope, model)
        for platform, workspace, user, tier, local_only in await self._ledger.query(
            "SELECT platform, workspace, user, tier, local_only FROM learner_preferences"
        ):
            if tier and workspace != EVERYWHERE:
                await memory.set_tier(platform, workspace, user, tier)
            if local_only:  # older rows were per server: "on" anywhere holds everywhere
                await memory.set_local_only(platform, workspace, user, True)
        self._memory = memory

    async def preferences(
        self, platform: str, workspace: str | None, channel: str, user: str
    ) -> Preferences:
        return await self._memory.preferences(platform, workspace, channel, user)

    async def set_model(
        self, platform: str, workspace: str | None, channel: str | None, model: str | None
    ) -> None:
        key = (platform, workspace or "", SERVER if channel is None else channel)
        if model is None:
            await self._ledger.write(
                (
                    "DELETE FROM channel_models"
                    " WHERE platform = ? AND workspace = ? AND channel = ?",
                    key,
                )
            )
        else:
            await self._ledger.write(
                (
                    "INSERT INTO channel_models VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (platform, workspace, channel)"
                    " DO UPDATE SET model = excluded.model, updated_at = excluded.updated_at",
                    (*key, model, self._clock()),
                )
            )
        await self._memory.set_model(platform, workspace, channel, model)

    async def set_tier(self, platform: str, workspace: str | None, user: str, tier: str) -> None:
        await self._ledger.write(
            (
                "INSERT INTO learner_preferences (platform, workspace, user, tier, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (platform, workspace, user)"
                " DO UPDATE SET tier = excluded.tier, updated_at = excluded.updated_at",
                (platform, workspace or "", user, tier, self._clock()),
            )
        )
        await self._memory.set_tier(platform, workspace, user, tier)

    async def set_local_only(
        self, platform: str, workspace: str | None, user: str, local_only: bool
    ) -> None:
        """Privacy holds for the platform user on every server and in DMs."""
        await self._ledger.write(
            (
                "UPDATE learner_preferences SET local_only = 0"
                " WHERE platform = ? AND user = ? AND workspace != ?",
                (platform, user, EVERYWHERE),
            ),
            (
                "INSERT INTO learner_preferences"
                " (platform, workspace, user, local_only, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (platform, workspace, user)"
                " DO UPDATE SET local_only = excluded.local_only, updated_at = excluded.updated_at",
                (platform, EVERYWHERE, user, int(local_only), self._clock()),
            ),
        )
        await self._memory.set_local_only(platform, workspace, user, local_only)

    async def forget_cached(self, platform: str, workspace: str | None, user: str) -> None:
        """Drop a learner's preferences from memory (the ledger deleted the rows)."""
        self._memory.forget_user(platform, workspace, user)
