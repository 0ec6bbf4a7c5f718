"""Small stateful checks the Slack adapter makes before it answers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterable

from cachetools import TTLCache
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.stream import SLACK_ERRORS, api_error

log = logging.getLogger(__name__)


class SeenEvents:
    """Remembers keys (event ids, message timestamps) for ``ttl_s``, at most ``max_keys``.

    ``first(key)`` is True only the first time a key is offered, so an event Slack retries
    (or the same message arriving as both ``app_mention`` and ``message``) is handled once.
    """

    def __init__(
        self,
        ttl_s: float = 3600.0,
        max_keys: int = 50_000,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._seen: TTLCache[Hashable, bool] = TTLCache(max_keys, ttl_s, timer=clock)

    def first(self, *keys: Hashable | None) -> bool:
        """True when none of ``keys`` (None ignored) was seen; all are remembered either way."""
        present = [k for k in keys if k is not None]
        fresh = not any(k in self._seen for k in present)
        for key in present:
            self._seen[key] = True  # (re)starts the key's time to live
        return fresh


class Moderators:
    """Who may run moderator commands: configured user ids plus workspace admins and owners.

    Admin status comes from ``users.info`` and is cached for ``ttl_s``; when Slack cannot
    be asked, the answer is no (and is not cached).
    """

    def __init__(
        self,
        client: AsyncWebClient,
        user_ids: Iterable[str] = (),
        *,
        ttl_s: float = 300.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.user_ids = frozenset(user_ids)
        self._cache: TTLCache[tuple[str | None, str], bool] = TTLCache(max_keys, ttl_s, timer=clock)

    async def check(self, team: str | None, user: str) -> bool:
        if user in self.user_ids:
            return True
        cached = self._cache.get((team, user))
        if cached is not None:
            return cached
        try:
            response = await self.client.users_info(user=user)
        except SLACK_ERRORS as exc:
            log.warning(
                "users.info for %s failed (%s): treating as not a moderator", user, api_error(exc)
            )
            return False
        info = response.get("user") or {}
        allowed = bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
        self._cache[(team, user)] = allowed
        return allowed
