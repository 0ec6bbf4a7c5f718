"""Telling moderators something (a tier's cloud budget is spent) through the running adapters.

``Notifier`` is the Tutor's ``notify`` callable. It posts to the ``[digests] targets`` (the
channels moderators read) in the background, so the learner whose question triggered
the notice is not kept waiting on another platform's API; ``aclose()`` waits for posts
still on their way (bounded) when the service stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from bot.config import DigestTarget
from bot.events import Outbound
from bot.ports import Adapter

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 30.0


class Notifier:
    """``await notifier(text)`` posts ``text`` to every target with a running adapter."""

    def __init__(self, targets: Sequence[DigestTarget], adapters: Sequence[Adapter]) -> None:
        self.targets = list(targets)
        self.adapters = {adapter.name: adapter for adapter in adapters}
        self._posts: set[asyncio.Task[None]] = set()

    async def __call__(self, text: str) -> None:
        if not self.targets:
            log.warning("no [digests] targets to tell moderators: %s", text)
        for target in self.targets:
            adapter = self.adapters.get(target.platform)
            if adapter is None:
                log.warning(
                    "cannot tell moderators on %s (no %s adapter running): %s",
                    target.channel,
                    target.platform,
                    text,
                )
                continue
            message = Outbound(target.platform, target.channel, text)
            task = asyncio.create_task(self._post(adapter, message), name="notify-moderators")
            self._posts.add(task)
            task.add_done_callback(self._posts.discard)

    async def _post(self, adapter: Adapter, message: Outbound) -> None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await adapter.send(message)
        except Exception:
            log.exception("could not tell moderators on %s:%s", message.platform, message.channel)
        else:
            log.info("told moderators on %s:%s", message.platform, message.channel)

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """Wait for posts on their way, up to ``timeout_s``; cancel the rest."""
        if not self._posts:
            return
        _, pending = await asyncio.wait(set(self._posts), timeout=timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
