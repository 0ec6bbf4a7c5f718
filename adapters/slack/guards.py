"""Small stateful checks the Slack adapter makes before it answers."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable

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
        self.ttl_s = ttl_s
        self.max_keys = max_keys
        self._clock = clock
        self._seen: OrderedDict[Hashable, float] = OrderedDict()

    def first(self, *keys: Hashable | None) -> bool:
        """True when none of ``keys`` (None ignored) was seen; all are remembered either way."""
        now = self._clock()
        while self._seen and next(iter(self._seen.values())) < now - self.ttl_s:
            self._seen.popitem(last=False)
        present = [k for k in keys if k is not None]
        fresh = not any(k in self._seen for k in present)
        for key in present:
            self._seen[key] = now
            self._seen.move_to_end(key)
        while len(self._seen) > self.max_keys:
            self._seen.popitem(last=False)
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.user_ids = frozenset(user_ids)
        self.ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[tuple[str | None, str], tuple[bool, float]] = {}

    async def check(self, team: str | None, user: str) -> bool:
        if user in self.user_ids:
            return True
        now = self._clock()
        cached = self._cache.get((team, user))
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            response = await self.client.users_info(user=user)
        except SLACK_ERRORS as exc:
            log.warning(
                "users.info for %s failed (%s): treating as not a moderator", user, api_error(exc)
            )
            return False
        info = response.get("user") or {}
        allowed = bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[(team, user)] = (allowed, now + self.ttl_s)
        return allowed
