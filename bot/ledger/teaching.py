"""Teaching's state in the ledger, so it survives restarts: channel modes and the
off-topic switch, hint levels, votes, hand-offs and the lessons answers cited.

Channel settings are read on every message, so they are served from memory after
``load()``; every change is committed before the memory copy changes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bot.events import Citation
from bot.ledger import queries

if TYPE_CHECKING:
    from bot.ledger.store import Ledger

log = logging.getLogger(__name__)

ID_CHARS = 200
NOTE_CHARS = 1000


class LedgerTeaching:
    """Implements bot.core.teaching.TeachingState, plus votes, hand-offs and citations."""

    def __init__(self, ledger: Ledger, *, clock: Callable[[], float] = time.time) -> None:
        self._ledger = ledger
        self._clock = clock
        self._channels: dict[tuple[str, str, str], tuple[str | None, bool | None]] = {}

    async def load(self) -> LedgerTeaching:
        """Read the channels' settings; none (the configured defaults) when the ledger
        cannot be read, so answering goes on (see Ledger.degrade)."""
        from bot.ledger.store import LedgerError

        try:
            stored = await queries.channel_teaching(self._ledger)
        except LedgerError as exc:
            log.warning("channel teaching settings are the defaults: %s", exc)
            stored = []
        channels = {}
        for platform, workspace, channel, mode, off_topic in stored:
            channels[(platform, workspace, channel)] = (
                mode,
                None if off_topic is None else bool(off_topic),
            )
        self._channels = channels
        return self

    # --- TeachingState -------------------------------------------------------------------

    async def channel_settings(
        self, platform: str, workspace: str | None, channel: str
    ) -> tuple[str | None, bool | None]:
        return self._channels.get((platform, workspace or "", channel), (None, None))

    async def set_channel_mode(
        self, platform: str, workspace: str | None, channel: str, mode: str
    ) -> None:
        key = (platform, workspace or "", channel)
        await queries.set_channel_mode(self._ledger, *key, mode, self._clock())
        self._channels[key] = (mode, self._channels.get(key, (None, None))[1])

    async def set_channel_off_topic(
        self, platform: str, workspace: str | None, channel: str, on: bool
    ) -> None:
        key = (platform, workspace or "", channel)
        await queries.set_channel_off_topic(self._ledger, *key, on, self._clock())
        self._channels[key] = (self._channels.get(key, (None, None))[0], on)

    async def hint_state(self, conversation: Sequence[str]) -> tuple[int, str]:
        return await queries.hint_state(self._ledger, _key(conversation))

    async def set_hint_state(self, conversation: Sequence[str], level: int, topic: str) -> None:
        await queries.set_hint_state(
            self._ledger, _key(conversation), level, topic[:NOTE_CHARS], self._clock()
        )

    # --- feedback, hand-offs, citations -------------------------------------------------

    async def vote(
        self, correlation_id: str, platform: str, workspace: str | None, user: str, vote: str
    ) -> None:
        """Record a learner's vote on an answer; a later vote replaces an earlier one."""
        if vote not in {"up", "down"}:
            raise ValueError(f"a vote is up or down, not {vote!r}")
        await queries.record_vote(
            self._ledger,
            correlation_id[:ID_CHARS],
            platform[:ID_CHARS],
            (workspace or "")[:ID_CHARS],
            user[:ID_CHARS],
            vote,
            self._clock(),
        )

    async def handoff(
        self,
        platform: str,
        workspace: str | None,
        channel: str,
        conversation: str,
        user: str,
        correlation_id: str | None,
        note: str | None,
    ) -> None:
        await queries.record_handoff(
            self._ledger,
            self._clock(),
            platform[:ID_CHARS],
            (workspace or "")[:ID_CHARS],
            channel[:ID_CHARS],
            conversation[:ID_CHARS],
            user[:ID_CHARS],
            correlation_id,
            note[:NOTE_CHARS] if note else None,
        )

    async def handoffs_since(
        self, platform: str, workspace: str | None, user: str, since: float
    ) -> int:
        return await queries.handoffs_since(self._ledger, platform, workspace or "", user, since)

    async def staff_replied(self, platform: str, workspace: str | None, conversation: str) -> int:
        return await queries.staff_replied(
            self._ledger, platform, workspace or "", conversation, self._clock()
        )

    async def cited(
        self,
        correlation_id: str,
        platform: str,
        workspace: str | None,
        citations: Sequence[Citation],
    ) -> None:
        if not citations:
            return
        await queries.record_citations(
            self._ledger,
            correlation_id,
            self._clock(),
            platform,
            workspace or "",
            [(c.source, c.title) for c in citations],
        )

    async def question_of(self, correlation_id: str) -> tuple[str, str, str, str, str, str] | None:
        return await queries.question_of(self._ledger, correlation_id)


def _key(conversation: Sequence[str]) -> str:
    return json.dumps([str(part)[:ID_CHARS] for part in conversation])
