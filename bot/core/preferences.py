"""An in-memory PreferenceStore: for tests and for runs without a ledger database."""

from __future__ import annotations

from bot.ports import Preferences


class MemoryPreferences:
    def __init__(self) -> None:
        self._models: dict[tuple[str, str, str | None], str] = {}
        self._tiers: dict[tuple[str, str, str], str] = {}
        # Privacy is the learner's own, on every server and in DMs: keyed by platform user.
        self._private: set[tuple[str, str]] = set()

    async def preferences(
        self, platform: str, workspace: str | None, channel: str, user: str
    ) -> Preferences:
        ws = workspace or ""
        model = self._models.get((platform, ws, channel)) or self._models.get((platform, ws, None))
        return Preferences(
            tier=self._tiers.get((platform, ws, user)),
            local_only=(platform, user) in self._private,
            model=model,
        )

    async def set_model(
        self, platform: str, workspace: str | None, channel: str | None, model: str | None
    ) -> None:
        key = (platform, workspace or "", channel)
        if model is None:
            self._models.pop(key, None)
        else:
            self._models[key] = model

    async def set_tier(self, platform: str, workspace: str | None, user: str, tier: str) -> None:
        self._tiers[(platform, workspace or "", user)] = tier

    async def set_local_only(
        self, platform: str, workspace: str | None, user: str, local_only: bool
    ) -> None:
        if local_only:
            self._private.add((platform, user))
        else:
            self._private.discard((platform, user))

    def forget_user(self, platform: str, workspace: str | None, user: str) -> None:
        """Drop a learner's tier (in that workspace) and privacy choice (everywhere)."""
        self._tiers.pop((platform, workspace or "", user), None)
        self._private.discard((platform, user))
